using LoRAM.Llama.Tests.Support;
using LoRAM.Llama;
using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Tests.Quantization;

/// <summary>A random tiny LLaMA folder (config.json + model.safetensors in BF16) for quantization tests; by default hidden
/// and intermediate sizes are multiples of 64, and a test may ask for others (NF4 blocks then straddle rows of the
/// projections). Same idea as tests/Llama.Tests/Support/TinyLlama.cs.</summary>
internal static class TinyLlamaFolder
{
    public static LlamaConfig Write(string folder, int seed = 1, int hidden = 64, int intermediate = 128, int headDim = 16)
    {
        var config = new LlamaConfig
        {
            HiddenSize = hidden, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, IntermediateSize = intermediate,
            VocabSize = 50, HeadDim = headDim, RmsNormEps = 1e-5, MaxPositionEmbeddings = 64, BosTokenId = 1, EosTokenIds = [2],
            TorchDtype = "bfloat16",
        };
        Directory.CreateDirectory(folder);
        var rng = new Random(seed);
        using var cpu = new CpuBackend(1);
        var tensors = new List<Tensor>();
        try
        {
            var writer = new SafetensorsWriter();
            foreach (var (name, shape) in LlamaTensorNames.Expected(config))
            {
                var values = new float[Tensor.Elements(shape)];
                bool norm = shape.Length == 1;
                for (int i = 0; i < values.Length; i++) values[i] = (float)((norm ? 1 : 0) + (rng.NextDouble() * 2 - 1) * (norm ? 0.1 : 0.125));
                var t = Tensor.FromSpan<ushort>(cpu, values.Select(BFloat16.FromSingle).ToArray(), DType.BF16, shape);
                tensors.Add(t);
                writer.Add(name, t);
            }
            writer.Save(Path.Combine(folder, ModelFolder.Weights));
        }
        finally { foreach (var t in tensors) t.Dispose(); }
        config.Save(Path.Combine(folder, ModelFolder.Config));
        File.WriteAllText(Path.Combine(folder, "loram_tokenizer.json"), "{\"type\":\"byte\"}");
        return config;
    }

    /// <summary>The seven projection names of every layer.</summary>
    public static IEnumerable<string> Projections(LlamaConfig c) => Enumerable.Range(0, c.NumHiddenLayers).SelectMany(l => new[]
    {
        LlamaTensorNames.Q(l), LlamaTensorNames.K(l), LlamaTensorNames.V(l), LlamaTensorNames.O(l),
        LlamaTensorNames.Gate(l), LlamaTensorNames.Up(l), LlamaTensorNames.Down(l),
    });
}
