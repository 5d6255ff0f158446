using System.Diagnostics;
using System.Text.Json;
using LoRAM.Autograd;
using LoRAM.Autograd.Optim;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Lora;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Bench;

/// <summary>
/// <c>train-step</c>: one whole training step of a random LLaMA — forward, token cross-entropy, backward, AdamW —
/// timed end to end, split by op, with peak memory. The peer is bench/peers/train_step.py (torch eager), run on the
/// same configurations by bench/run-train-step-comparison.sh.
///   lora: every weight frozen in BF16, r = 8 adapters (alpha 16, dropout 0.05) on all seven projections of every
///         layer, AdamW on the adapters only (the paper's setting, Eq. (1)).
///   full: every weight an F32 parameter, AdamW on all of them (alignment / pre-training).
/// Usage: train-step [--shape base|smollm-135m] [--mode lora|full] [--threads N] [--steps N] [--seq-len 512]
///                   [--micro-batch 4] [--profile-steps N] [--json]
/// </summary>
internal static class TrainStepBench
{
    internal static LlamaConfig Shape(string name) => name switch
    {
        // The embedded default model (src/LoRAM/Defaults/base.json).
        "base" => new LlamaConfig
        {
            HiddenSize = 256, NumHiddenLayers = 6, NumAttentionHeads = 8, NumKeyValueHeads = 4, HeadDim = 32, IntermediateSize = 688,
            VocabSize = 259, RmsNormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 1024, TieWordEmbeddings = false,
            BosTokenId = 256, EosTokenIds = [257],
        },
        _ => InferenceBench.Shape(name),
    };

    public static int Run(string[] args)
    {
        string shape = BenchArgs.Option(args, "--shape") ?? "base";
        string mode = BenchArgs.Option(args, "--mode") ?? "lora";
        int threads = BenchArgs.Int(args, "--threads", CpuBackend.ThreadsFromEnvironment());
        int steps = BenchArgs.Int(args, "--steps", 5);
        int seqLen = BenchArgs.Int(args, "--seq-len", 512);
        int microBatch = BenchArgs.Int(args, "--micro-batch", 4);
        int profileSteps = BenchArgs.Int(args, "--profile-steps", 1);
        bool json = args.Contains("--json");
        if (mode is not ("lora" or "full")) throw new ArgumentException($"--mode {mode}: lora or full");

        var config = Shape(shape);
        using var be = new CpuBackend(threads);
        bool lora = mode == "lora";
        LlamaModel model;
        using (var weights = RandomWeights(config, be, lora ? DType.BF16 : DType.F32))
            model = LlamaModel.FromWeights(weights, be, new LlamaModelOptions { Trainable = !lora });
        using var _ = model;
        using var adapter = lora ? LoraAdapter.Attach(model, new LoraSettings { Rank = 8, Alpha = 16, Dropout = 0.05f }, seed: 1) : null;
        var parameters = (lora ? adapter!.Parameters() : model.Parameters()).ToList();
        using var opt = new AdamW(parameters, weightDecay: 0f);
        var ledger = new MemoryLedger();
        model.RegisterMemory(ledger);
        if (lora) ledger.AddParameters(parameters);
        ledger.AddOptimizer(opt);

        var rng = new Random(3);
        int[] RandomIds() => Enumerable.Range(0, microBatch * seqLen).Select(_ => rng.Next(config.VocabSize)).ToArray();
        using var ids = Tensor.FromArray(be, RandomIds(), microBatch, seqLen);
        using var targets = Tensor.FromArray(be, RandomIds(), microBatch, seqLen);
        var profiler = new OpProfiler { Enabled = false };
        double lastLoss = double.NaN;
        long step = 0;

        void Step()
        {
            adapter?.SetDropoutSeed(step++);
            using var tape = new Tape(be, profiler) { Ledger = ledger };
            var loss = tape.CrossEntropy(model.Forward(tape, ids), targets);
            lastLoss = loss.Item();
            tape.Backward(loss);
            using (profiler.Enabled ? profiler.Start(be, "adamw", backward: true) : default)
                opt.Step(1e-4f);
            opt.ZeroGrad();
        }

        // Peak RSS of the steps, not of building random weights: Linux resets VmHWM to the current RSS on "5".
        ResetPeakRss();
        Step();   // warm-up: JIT (tier 0), the pool, AdamW state
        be.ResetPeak();
        var times = new List<double>();
        for (int i = 0; i < steps; i++)
        {
            var sw = Stopwatch.StartNew();
            Step();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        long peakRss = PeakRss();
        long peakLive = be.Memory.PeakLiveBytes;
        profiler.Enabled = true;
        for (int i = 0; i < profileSteps; i++) Step();
        double profiledTotal = profiler.Total.TotalMilliseconds / profileSteps;
        times.Sort();
        double median = times[times.Count / 2];
        int tokens = microBatch * seqLen;

        var ops = profiler.Entries.ToDictionary(e => e.Op, e => new
        {
            forward_ms = Math.Round(e.Forward.TotalMilliseconds / profileSteps, 3),
            backward_ms = Math.Round(e.Backward.TotalMilliseconds / profileSteps, 3),
        });
        var result = new
        {
            suite = "train-step",
            impl = "loram.net",
            shape,
            mode,
            threads,
            seq_len = seqLen,
            micro_batch = microBatch,
            steps,
            parameters = config.ParameterCount(),
            trainable_parameters = parameters.Sum(p => p.Value.Length),
            frozen_dtype = lora ? "bf16" : "none",
            tokens_per_s = tokens / (median / 1e3),
            median_step_ms = median,
            min_step_ms = times[0],
            step_ms = times,
            loss = lastLoss,
            peak_rss_bytes = peakRss,
            backend_peak_live_bytes = peakLive,
            memory_peak_by_category = ledger.PeakByCategory().Where(kv => kv.Value > 0).ToDictionary(),
            profiled_step_ms = profiledTotal,
            ops,
        };
        if (json) Console.WriteLine(JsonSerializer.Serialize(result));
        else
        {
            Console.WriteLine($"train-step {shape} {mode}: {result.parameters:N0} params, {result.trainable_parameters:N0} trainable, {threads} thread(s), B={microBatch} T={seqLen}");
            Console.WriteLine($"  step median {median:F1} ms (min {times[0]:F1}) = {result.tokens_per_s:F0} tok/s; loss {lastLoss:F4}");
            Console.WriteLine($"  peak RSS {peakRss / 1048576.0:F0} MiB, backend peak live {peakLive / 1048576.0:F0} MiB: " +
                string.Join(", ", result.memory_peak_by_category.Select(kv => $"{kv.Key} {kv.Value / 1048576.0:F1}")));
            Console.WriteLine($"  by op (profiled, {profiledTotal:F0} ms/step)     fwd ms    bwd ms   share");
            foreach (var e in profiler.Entries)
                Console.WriteLine($"  {e.Op,-16} {e.Forward.TotalMilliseconds / profileSteps,26:F1} {e.Backward.TotalMilliseconds / profileSteps,9:F1} {e.Total.TotalMilliseconds / profileSteps / profiledTotal,7:P1}");
        }
        return 0;
    }

    /// <summary>
    /// Uniform ±1/√in linear weights, ±1 embedding, norms 1 ± 0.1; projections and embedding stored as
    /// <paramref name="dtype"/>, norms F32. Written a few rows at a time so that building them never holds a float32
    /// copy of a large matrix (which would dominate peak memory at a 49k vocabulary).
    /// </summary>
    internal static LlamaWeights RandomWeights(LlamaConfig config, Backend backend, DType dtype)
    {
        var tensors = new Dictionary<string, Tensor>();
        int seed = 1;
        foreach (var (name, shape) in LlamaTensorNames.Expected(config))
        {
            var rng = new Random(seed++);
            bool norm = shape.Length == 1;
            double bound = norm ? 0.1 : name == LlamaTensorNames.Embedding ? 1.0 : 1.0 / Math.Sqrt(shape[1]);
            var t = Tensor.Empty(backend, norm ? DType.F32 : dtype, shape);
            int rows = norm ? 1 : shape[0], cols = norm ? shape[0] : shape[1], chunk = Math.Max(1, 65536 / cols);
            var values = new float[chunk * cols];
            for (int r = 0; r < rows; r += chunk)
            {
                int n = Math.Min(chunk, rows - r);
                for (int i = 0; i < n * cols; i++) values[i] = (float)((norm ? 1 : 0) + (rng.NextDouble() * 2 - 1) * bound);
                using var f32 = Tensor.FromSpan<float>(backend, values.AsSpan(0, n * cols), DType.F32, n, cols);
                using var cast = f32.DType == t.DType ? f32.Clone() : f32.Cast(t.DType);
                using var dst = t.View((long)r * cols, n, cols);
                backend.Copy(cast, dst);
            }
            tensors[name] = t;
        }
        return LlamaWeights.FromTensors(config, tensors, "random weights");
    }

    private static void ResetPeakRss()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>VmHWM from /proc/self/status (peak resident set since the last reset), else the process's peak working set.</summary>
    private static long PeakRss()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (IOException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }
}
