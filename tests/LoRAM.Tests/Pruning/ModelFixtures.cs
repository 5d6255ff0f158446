using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Tests.Pruning;

/// <summary>Helpers for the whole-model pruning tests: logits, calibration tokens, host copies of weights.</summary>
internal static class ModelFixtures
{
    public static readonly int[] Tokens = [256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10, 3, 99, 200, 17];

    public static float[] Logits(LlamaModel model, int[] tokens)
    {
        using var tape = new Tape(model.Backend);
        using var _ = tape.NoGrad();
        using var ids = Tensor.FromArray(model.Backend, tokens, 1, tokens.Length);
        return model.Forward(tape, ids).Value.ToFloatArray();
    }

    /// <summary>Seeded random byte-token windows of <paramref name="length"/> tokens.</summary>
    public static int[][] RandomSamples(int count, int length, int seed, int vocab = 256)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, length).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
    }

    /// <summary>Every weight of a folder as float32 host arrays, with the config.</summary>
    public static (LlamaConfig Config, Dictionary<string, (float[] Data, int[] Shape)> Weights) HostWeights(string folder)
    {
        using var cpu = new CpuBackend(1);
        using var w = LlamaWeights.Load(folder, cpu, DType.F32);
        return (w.Config, w.Tensors.ToDictionary(kv => kv.Key, kv => (kv.Value.ToFloatArray(), kv.Value.ShapeArray())));
    }

    /// <summary>A model over host arrays (F32).</summary>
    public static LlamaModel ModelFrom(LlamaConfig config, Dictionary<string, (float[] Data, int[] Shape)> weights, Backend backend)
    {
        var tensors = weights.ToDictionary(kv => kv.Key, kv => Tensor.FromArray(backend, kv.Value.Data, kv.Value.Shape));
        using var lw = LlamaWeights.FromTensors(config, tensors);
        return LlamaModel.FromWeights(lw, backend);
    }

    public static double MaxRelativeDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double diff = 0, scale = 0;
        for (int i = 0; i < a.Length; i++) { diff = Math.Max(diff, Math.Abs(a[i] - b[i])); scale = Math.Max(scale, Math.Abs(b[i])); }
        return diff / scale;
    }
}
