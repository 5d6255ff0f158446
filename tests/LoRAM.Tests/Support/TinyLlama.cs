using System.Text.Json;
using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;
using LoRAM.Llama;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Tests.Support;

/// <summary>Options of a random tiny LLaMA folder for tests (the idea of tests/Llama.Tests/Support/TinyLlama.cs).</summary>
public sealed record TinyLlamaOptions
{
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int Hidden { get; init; } = 32;
    public int Intermediate { get; init; } = 48;
    public int Vocab { get; init; } = 259;
    public int MaxPositions { get; init; } = 64;
    public DType DType { get; init; } = DType.F32;
    public bool Tied { get; init; }
    public bool Llama3RopeScaling { get; init; }
    public int Seed { get; init; } = 1;
}

/// <summary>
/// Writes a random tiny LLaMA as a Hugging Face folder (config.json, model.safetensors, and the byte tokenizer's
/// loram_tokenizer.json), seeded. Linear weights are uniform in ±1/√in so activations stay O(1); norm weights are
/// 1 ± 0.1 so a wrong norm is visible.
/// </summary>
public static class TinyLlama
{
    public static LlamaConfig Config(TinyLlamaOptions o) => new()
    {
        HiddenSize = o.Hidden,
        NumHiddenLayers = o.Layers,
        NumAttentionHeads = o.Heads,
        NumKeyValueHeads = o.KvHeads,
        IntermediateSize = o.Intermediate,
        VocabSize = o.Vocab,
        HeadDim = o.Hidden / o.Heads,
        RmsNormEps = 1e-5,
        RopeTheta = o.Llama3RopeScaling ? 500000 : 10000,
        // A short original context so that all three llama3 bands occur at tiny head dims.
        RopeScaling = o.Llama3RopeScaling ? new RopeScaling(8, 1, 4, 32) : null,
        MaxPositionEmbeddings = o.MaxPositions,
        TieWordEmbeddings = o.Tied,
        BosTokenId = 256,
        EosTokenIds = [257],
        TorchDtype = o.DType == DType.BF16 ? "bfloat16" : "float32",
    };

    /// <summary>Writes the folder and returns its config.</summary>
    public static LlamaConfig Write(string folder, TinyLlamaOptions? options = null)
    {
        var o = options ?? new TinyLlamaOptions();
        var config = Config(o);
        Directory.CreateDirectory(folder);
        var rng = new Random(o.Seed);
        using var cpu = new CpuBackend(1);
        var tensors = new List<Tensor>();
        try
        {
            var writer = new SafetensorsWriter();
            writer.Metadata["format"] = "pt";
            foreach (var (name, shape) in LlamaTensorNames.Expected(config))
            {
                var values = new float[Tensor.Elements(shape)];
                bool norm = shape.Length == 1;
                double bound = norm ? 0.1 : name == LlamaTensorNames.Embedding ? 1.0 : 1.0 / Math.Sqrt(shape[1]);
                for (int i = 0; i < values.Length; i++) values[i] = (float)((norm ? 1 : 0) + (rng.NextDouble() * 2 - 1) * bound);
                var t = o.DType switch
                {
                    DType.F32 => Tensor.FromArray(cpu, values, shape),
                    DType.BF16 => Tensor.FromSpan<ushort>(cpu, values.Select(BFloat16.FromSingle).ToArray(), DType.BF16, shape),
                    DType.F16 => Tensor.FromSpan<ushort>(cpu, values.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray(), DType.F16, shape),
                    _ => throw new ArgumentException($"weights cannot be {o.DType}"),
                };
                tensors.Add(t);
                writer.Add(name, t);
            }
            writer.Save(Path.Combine(folder, ModelFolder.Weights));
        }
        finally { foreach (var t in tensors) t.Dispose(); }
        config.Save(Path.Combine(folder, ModelFolder.Config));
        File.WriteAllText(Path.Combine(folder, "loram_tokenizer.json"), JsonSerializer.Serialize(new { type = "byte" }));
        return config;
    }
}
