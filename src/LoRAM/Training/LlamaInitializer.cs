using LoRAM.Data;
using LoRAM.Llama;
using LoRAM.Tensors;

namespace LoRAM.Training;

/// <summary>
/// Random initialisation of a LLaMA for pre-training from scratch, as Hugging Face's
/// <c>LlamaPreTrainedModel._init_weights</c> does it: every linear weight and the embedding table drawn from
/// N(0, σ²) with σ = <c>initializer_range</c> (config.json; 0.02 when absent), every RMSNorm gain set to 1.
/// No residual-branch rescaling (HF LLaMA has none). Each tensor draws from its own SplitMix64 stream named by
/// (seed, tensor name), normals by Box–Muller in double, so a seed names the same weights on every machine and
/// .NET version, independent of the order the tensors are made in.
/// </summary>
public static class LlamaInitializer
{
    public const double DefaultStd = 0.02;

    /// <summary>σ of the initial weights: config.json's <c>initializer_range</c>, else 0.02.</summary>
    public static double StdOf(LlamaConfig config) =>
        config.Extra?["initializer_range"] is { } n ? n.GetValue<double>() : DefaultStd;

    /// <summary>Freshly initialised F32 weights for <paramref name="config"/> on <paramref name="backend"/>.</summary>
    public static LlamaWeights Create(LlamaConfig config, Backend backend, int seed)
    {
        double std = StdOf(config);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, shape) in LlamaTensorNames.Expected(config))
            {
                var values = new float[Tensor.Elements(shape)];
                if (shape.Length == 1) Array.Fill(values, 1f);   // RMSNorm gains
                else FillNormal(values, std, Rng.For(seed, "init/" + name));
                tensors[name] = Tensor.FromArray(backend, values, shape);
            }
            return LlamaWeights.FromTensors(config, tensors, "initialisation");
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Box–Muller: two uniforms u1 ∈ (0, 1], u2 ∈ [0, 1) give two independent N(0, 1) draws. Pieces of
    /// even length drawn one after another from one <paramref name="rng"/> give the same values as one call over the
    /// whole tensor (how <see cref="ModelInit"/> streams a tensor it never holds whole).</summary>
    internal static void FillNormal(Span<float> values, double std, Rng rng)
    {
        for (int i = 0; i < values.Length; i += 2)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1)), a = 2.0 * Math.PI * u2;
            values[i] = (float)(std * r * Math.Cos(a));
            if (i + 1 < values.Length) values[i + 1] = (float)(std * r * Math.Sin(a));
        }
    }
}
