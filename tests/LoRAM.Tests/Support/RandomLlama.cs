using System.Text.Json;
using LoRAM.Llama;
using LoRAM.Llama.Tokenization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Tests.Support;

/// <summary>Writes a seeded random byte-level LLaMA folder (config.json, model.safetensors, loram_tokenizer.json) for command tests.</summary>
public static class RandomLlama
{
    public static LlamaConfig Config(int layers = 2, int hidden = 32, int heads = 4, int kvHeads = 2, int intermediate = 48) => new()
    {
        HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads,
        IntermediateSize = intermediate, VocabSize = 259, HeadDim = hidden / heads, RmsNormEps = 1e-5,
        MaxPositionEmbeddings = 256, BosTokenId = 256, EosTokenIds = [257],
    };

    public static LlamaConfig Write(string folder, LlamaConfig? config = null, int seed = 1, DType dtype = DType.BF16)
    {
        config ??= Config();
        var rng = new Random(seed);
        using var cpu = new CpuBackend(1);
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, shape) in LlamaTensorNames.Expected(config))
        {
            var values = new float[Tensor.Elements(shape)];
            double bound = shape.Length == 1 ? 0.1 : name == LlamaTensorNames.Embedding ? 1.0 : 1.0 / Math.Sqrt(shape[1]);
            for (int i = 0; i < values.Length; i++) values[i] = (float)((shape.Length == 1 ? 1 : 0) + (rng.NextDouble() * 2 - 1) * bound);
            using var f32 = Tensor.FromArray(cpu, values, shape);
            tensors[name] = f32.Cast(dtype);
        }
        using var weights = LlamaWeights.FromTensors(config, tensors);
        weights.Save(folder);
        File.WriteAllText(Path.Combine(folder, ByteTokenizer.FileName), JsonSerializer.Serialize(new { type = "byte" }));
        return config;
    }
}
