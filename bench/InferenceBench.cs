using System.Diagnostics;
using System.Text.Json;
using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Generation;
using LoRAM.Llama.Model;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Bench;

/// <summary>
/// <c>inference</c>: prefill and decode speed of a random LLaMA with BF16 weights at a real model's shape
/// (default SmolLM-135M: d 576, 30 layers, 9 heads / 3 KV heads, MLP 1536, vocab 49152, tied head).
/// Decoding a token reads every weight once, so weight bytes / memory bandwidth is the floor on its time: the
/// bandwidth is measured in the same run, on the same threads, and decode is reported as a fraction of that bound.
/// Prefill is reported in GFLOP/s (2·params·T for the projections and head, plus causal attention), to set
/// against the GEMM figures.
/// Usage: inference [--config smollm-135m|tinyllama-1.1b|tiny|any loram preset or config.json] [--threads N] [--prompt T]
/// [--decode N] [--reps R] [--device D] [--unfused] [--json] (<c>--shape</c> is the old spelling of <c>--config</c>;
/// <c>--unfused</c> runs q/k/v and gate/up as separate projections, the path before they were fused)
/// </summary>
internal static class InferenceBench
{
    internal static LlamaConfig Shape(string name) => name switch
    {
        "smollm-135m" => new LlamaConfig
        {
            HiddenSize = 576, NumHiddenLayers = 30, NumAttentionHeads = 9, NumKeyValueHeads = 3, IntermediateSize = 1536,
            VocabSize = 49152, HeadDim = 64, RmsNormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 2048, TieWordEmbeddings = true,
            BosTokenId = 1, EosTokenIds = [2],
        },
        "tiny" => new LlamaConfig
        {
            HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, IntermediateSize = 128,
            VocabSize = 259, HeadDim = 16, RmsNormEps = 1e-5, MaxPositionEmbeddings = 512,
        },
        // Any other shape the planner knows (tinyllama-1.1b, llama-2-7b, ...) or a config.json: the random model is
        // built in memory, so the machine must hold its weights in BF16 (TinyLlama-1.1B: 2.2 GB).
        _ => LoRAM.Planning.ModelPresets.Resolve(name),
    };

    public static int Run(string[] args)
    {
        string shape = BenchArgs.Option(args, "--config") ?? BenchArgs.Option(args, "--shape") ?? "smollm-135m";
        int threads = BenchArgs.Int(args, "--threads", CpuBackend.ThreadsFromEnvironment());
        int promptTokens = BenchArgs.Int(args, "--prompt", 128);
        int decodeTokens = BenchArgs.Int(args, "--decode", 64);
        int reps = BenchArgs.Int(args, "--reps", 3);
        string? device = BenchArgs.Option(args, "--device");
        bool json = args.Contains("--json");
        bool fused = !args.Contains("--unfused");

        var config = Shape(shape);
        using Backend backend = device is null or "cpu" ? new CpuBackend(threads) : Backends.Create(device);
        using var weights = RandomWeights(config, backend);
        using var model = LlamaModel.FromWeights(weights, backend);
        model.FuseProjections = fused;
        backend.ResetPeak();   // count inference, not the building of random weights
        long weightBytes = model.WeightBytes();
        // Bytes a decode step reads: every weight once, except the embedding table of an untied model (one row).
        long readPerToken = weightBytes - (config.TieWordEmbeddings ? 0 : weights.Embedding.Bytes);

        var rng = new Random(7);
        var prompt = Enumerable.Range(0, promptTokens).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var prefillTimes = new List<double>();
        var decodeTimes = new List<double>();
        var decodeCpuTimes = new List<double>();   // CPU seconds per thread per token: blind to other jobs' share of the cores
        for (int r = 0; r < reps + 1; r++)
        {
            var steps = new List<GeneratedToken>();
            var cpuAfterPrefill = TimeSpan.Zero;
            foreach (var step in Generator.Generate(model, prompt, decodeTokens + 1, SamplingOptions.Greedy, new HashSet<int>()))
            {
                if (steps.Count == 0) cpuAfterPrefill = Process.GetCurrentProcess().TotalProcessorTime;
                steps.Add(step);
            }
            var decodeCpu = Process.GetCurrentProcess().TotalProcessorTime - cpuAfterPrefill;
            if (r == 0) continue;   // warm-up: JIT, pools, page-in of the weights
            prefillTimes.Add(steps[0].Seconds);
            decodeTimes.Add(steps.Skip(1).Sum(s => s.Seconds) / (steps.Count - 1));
            decodeCpuTimes.Add(decodeCpu.TotalSeconds / threads / (steps.Count - 1));
        }
        double prefill = Median(prefillTimes), decode = Median(decodeTimes), decodeCpuPerToken = Median(decodeCpuTimes);
        var decodeOps = ProfileDecode(model, prompt, decodeTokens);
        long peakRss = Process.GetCurrentProcess().PeakWorkingSet64;   // before the bandwidth probe's 1 GiB buffer
        var (bandwidth, bandwidthPerCpuSecond) = device is null or "cpu" ? MemoryBandwidth.Read(threads, 1L << 30, 5) : (double.NaN, double.NaN);

        long projectionParams = model.Projections().Where(p => p.Path != "lm_head").Sum(p => (long)p.Layer.InFeatures * p.Layer.OutFeatures);
        double attentionFlops = 0;
        for (int l = 0; l < config.NumHiddenLayers; l++)   // q·kᵀ and p·v over the causal half
            attentionFlops += 2.0 * 2 * config.HeadsAt(l) * config.HeadDim * promptTokens * (promptTokens + 1) / 2.0;
        double prefillFlops = 2.0 * projectionParams * promptTokens + attentionFlops + 2.0 * config.VocabSize * config.HiddenSize;  // head on the last position only
        var result = new
        {
            suite = "inference",
            shape,
            device = backend.Name,
            threads,
            fused_projections = fused,
            parameters = config.ParameterCount(),
            weight_bytes = weightBytes,
            prompt_tokens = promptTokens,
            decode_tokens = decodeTokens,
            prefill_seconds = prefill,
            prefill_tokens_per_s = promptTokens / prefill,
            prefill_gflops = prefillFlops / prefill / 1e9,
            decode_tokens_per_s = 1 / decode,
            memory_read_gb_per_s = bandwidth / 1e9,
            decode_bound_tokens_per_s = bandwidth / readPerToken,
            decode_fraction_of_bound = readPerToken / decode / bandwidth,
            // The same ratio over CPU time per thread (decode's and the probe's): what the code reaches while it runs,
            // on a machine whose cores other jobs share. With two threads, time a thread waits at a join counts as idle.
            decode_cpu_ms_per_token = decodeCpuPerToken * 1e3,
            memory_read_gb_per_cpu_s = bandwidthPerCpuSecond / 1e9,
            decode_fraction_of_bound_per_cpu_s = readPerToken / decodeCpuPerToken / bandwidthPerCpuSecond,
            load_average = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "",
            peak_rss_bytes = peakRss,
            backend_peak_live_bytes = backend.Memory.PeakLiveBytes,
            decode_ms_by_op = decodeOps,
        };
        if (json) Console.WriteLine(JsonSerializer.Serialize(result));
        else
        {
            Console.WriteLine($"inference {shape} ({result.parameters:N0} params, {weightBytes / 1048576.0:F0} MiB BF16) on {backend.Name}, {threads} thread(s), {(fused ? "fused" : "separate")} q/k/v and gate/up, median of {reps}");
            Console.WriteLine($"  prefill {promptTokens} tokens: {prefill * 1e3:F0} ms = {result.prefill_tokens_per_s:F0} tok/s, {result.prefill_gflops:F1} GFLOP/s");
            Console.WriteLine($"  decode: {decode * 1e3:F1} ms/token = {result.decode_tokens_per_s:F1} tok/s; bound at {result.memory_read_gb_per_s:F1} GB/s read: {result.decode_bound_tokens_per_s:F1} tok/s → {result.decode_fraction_of_bound:P0} of it");
            Console.WriteLine($"  per CPU-second of a thread: decode {result.decode_cpu_ms_per_token:F1} ms/token, probe {result.memory_read_gb_per_cpu_s:F1} GB/s → {result.decode_fraction_of_bound_per_cpu_s:P0} of the bound (load average {result.load_average})");
            Console.WriteLine("  decode ms/token by op (profiled, synchronised per op): " + string.Join(", ", decodeOps.Select(kv => $"{kv.Key} {kv.Value:F2}")));
            Console.WriteLine($"  memory: peak RSS {result.peak_rss_bytes / 1048576.0:F0} MiB, backend peak live {result.backend_peak_live_bytes / 1048576.0:F0} MiB");
        }
        return 0;
    }

    /// <summary>Milliseconds per decoded token by op: a prefill, then <paramref name="tokens"/> single-token steps under the profiler.</summary>
    private static Dictionary<string, double> ProfileDecode(LlamaModel model, int[] prompt, int tokens)
    {
        var be = model.Backend;
        var profiler = new OpProfiler { Enabled = false };
        using var cache = new KvCache(be, model.Config, prompt.Length + tokens);
        var input = prompt;
        for (int i = 0; i <= tokens; i++)
        {
            profiler.Enabled = i > 0;
            using var tape = new Tape(be, profiler);
            using var _ = tape.NoGrad();
            using var ids = Tensor.FromArray(be, input, 1, input.Length);
            model.Forward(tape, ids, cache, lastPositionOnly: true);
            input = [i % model.Config.VocabSize];
        }
        return profiler.Entries.ToDictionary(e => e.Op, e => e.Forward.TotalMilliseconds / tokens);
    }

    /// <summary>Uniform ±1/√in linear weights, ±1 embedding, norms 1 ± 0.1, stored BF16 (norms F32 as the model keeps them).</summary>
    private static LlamaWeights RandomWeights(LlamaConfig config, Backend backend)
    {
        var tensors = new Dictionary<string, Tensor>();
        int seed = 1;
        foreach (var (name, shape) in LlamaTensorNames.Expected(config))
        {
            var rng = new Random(seed++);
            var values = new float[Tensor.Elements(shape)];
            double bound = shape.Length == 1 ? 0.1 : name == LlamaTensorNames.Embedding ? 1.0 : 1.0 / Math.Sqrt(shape[1]);
            for (int i = 0; i < values.Length; i++) values[i] = (float)((shape.Length == 1 ? 1 : 0) + (rng.NextDouble() * 2 - 1) * bound);
            using var f32 = Tensor.FromArray(backend, values, shape);
            tensors[name] = shape.Length == 1 ? f32.Clone() : f32.Cast(DType.BF16);
        }
        return LlamaWeights.FromTensors(config, tensors, "random weights");
    }

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs[xs.Count / 2];
    }
}
