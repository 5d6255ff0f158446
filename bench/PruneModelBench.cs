using System.Diagnostics;
using System.Text.Json;
using LoRAM.Llama;
using LoRAM.Pruning;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Bench;

/// <summary>
/// `loram prune` end to end on a random LLaMA of the shipped base's order of size (default: 8 layers, hidden 384,
/// 6 heads / 2 kv heads, 1024 channels, byte vocabulary, BF16), every method with its default calibration
/// (stru: 10 × 128 tokens; semi/unst/wanda: 128 × 128), all layers pruned for the non-structured methods and
/// layers 4..5 for the structured ones. Prints seconds in total and per pruned layer. Options: --hidden N,
/// --layers N, --intermediate N, --samples N, --json.
/// </summary>
internal static class PruneModelBench
{
    public static int Run(string[] args)
    {
        int hidden = BenchArgs.Int(args, "--hidden", 384), layers = BenchArgs.Int(args, "--layers", 8), intermediate = BenchArgs.Int(args, "--intermediate", 1024);
        int? samples = args.Contains("--samples") ? BenchArgs.Int(args, "--samples", 128) : null;
        bool json = args.Contains("--json");
        var root = Directory.CreateTempSubdirectory("loram-prune-bench-").FullName;
        try
        {
            var model = Path.Combine(root, "model");
            var config = WriteRandomModel(model, hidden, layers, intermediate);
            using var cpu = new CpuBackend();
            var rows = new List<Dictionary<string, object>>();
            foreach (var (method, ratio) in new[] { ("rand", 0.5), ("stru", 0.5), ("semi", 0.0), ("unst", 0.5), ("wanda", 0.5), ("magnitude", 0.5) })
            {
                var m = PruningMethods.Parse(method);
                var summary = ModelPruner.Run(new PruneOptions { Model = model, Out = Path.Combine(root, method), Method = m, Ratio = ratio, Samples = samples }, cpu);
                int pruned = layers - summary.KeepFirst - summary.KeepLast;
                rows.Add(new Dictionary<string, object>
                {
                    ["method"] = method, ["target"] = summary.NM ?? ratio.ToString(), ["samples"] = summary.Samples, ["seq_len"] = summary.SeqLen,
                    ["pruned_layers"] = pruned, ["seconds"] = summary.Seconds, ["seconds_per_pruned_layer"] = summary.Seconds / Math.Max(1, pruned),
                    ["reduction_ratio"] = summary.ReductionRatio, ["mean_relative_error"] = summary.MeanRelativeError ?? double.NaN,
                });
            }
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { suite = "prune-model", hidden, layers, intermediate, parameters = config.ParameterCount(), threads = cpu.Threads, rows }));
            else
            {
                Console.WriteLine($"loram prune on a random {layers}-layer LLaMA, hidden {hidden}, {intermediate} channels ({config.ParameterCount():N0} parameters, BF16), {cpu.Threads} thread(s)");
                foreach (var r in rows)
                    Console.WriteLine($"  {r["method"],-9} {r["target"],-4} {r["samples"],4} × {r["seq_len"],-4} {r["seconds"],7:F2} s total, {r["seconds_per_pruned_layer"],6:F2} s per pruned layer ({r["pruned_layers"]}), {r["reduction_ratio"]:F2}×, rel. error {r["mean_relative_error"]:E2}");
            }
            return 0;
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    private static LlamaConfig WriteRandomModel(string folder, int hidden, int layers, int intermediate)
    {
        var config = new LlamaConfig
        {
            HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = 6, NumKeyValueHeads = 2, IntermediateSize = intermediate,
            VocabSize = 259, HeadDim = hidden / 6, RmsNormEps = 1e-5, MaxPositionEmbeddings = 512, BosTokenId = 256, EosTokenIds = [257],
            TorchDtype = "bfloat16",
        };
        var rng = new Random(1);
        using var cpu = new CpuBackend(1);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, shape) in LlamaTensorNames.Expected(config))
        {
            var values = new float[Tensor.Elements(shape)];
            double bound = shape.Length == 1 ? 0.1 : 1.0 / Math.Sqrt(shape[1]);
            for (int i = 0; i < values.Length; i++) values[i] = (float)((shape.Length == 1 ? 1 : 0) + (rng.NextDouble() * 2 - 1) * bound);
            using var f = Tensor.FromArray(cpu, values, shape);
            tensors[name] = f.Cast(DType.BF16);
        }
        using var weights = LlamaWeights.FromTensors(config, tensors);
        weights.Save(folder);
        File.WriteAllText(Path.Combine(folder, "loram_tokenizer.json"), "{\"type\": \"byte\"}");
        return config;
    }
}
