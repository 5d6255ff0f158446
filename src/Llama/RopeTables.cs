using LoRAM.Tensors;

namespace LoRAM.Llama;

/// <summary>
/// Rotary position embedding tables for the rotate-half layout of <see cref="Backend.Rope"/>:
/// cos[p, i] = cos(p·f_i), sin[p, i] = sin(p·f_i) for i &lt; headDim/2, with f_i = θ^(−2i/d) (RoFormer), and for
/// a config's rope_scaling ("llama3", "linear" or "dynamic") as HF applies it. Computed in float64, stored as float32.
/// </summary>
public static class RopeTables
{
    /// <summary>The rotary frequencies f_i (radians per position), adjusted by <paramref name="scaling"/> when given.
    /// <paramref name="maxPositionEmbeddings"/> and <paramref name="sequenceLength"/> matter to "dynamic" only.</summary>
    public static double[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling, int maxPositionEmbeddings = 0, int sequenceLength = 0)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"head dimension must be positive and even, got {headDim}");
        if (scaling?.Type == RopeScaling.DynamicType) theta = DynamicTheta(headDim, theta, scaling.Factor, maxPositionEmbeddings, sequenceLength);
        var f = new double[headDim / 2];
        for (int i = 0; i < f.Length; i++) f[i] = 1.0 / Math.Pow(theta, 2.0 * i / headDim);
        switch (scaling?.Type)
        {
            case RopeScaling.Llama3: ApplyLlama3(f, scaling); break;
            // HF's _compute_linear_scaling_rope_parameters: position interpolation, f_i / factor.
            case RopeScaling.LinearType: for (int i = 0; i < f.Length; i++) f[i] /= scaling.Factor; break;
        }
        return f;
    }

    /// <summary>
    /// Hugging Face's <c>_compute_dynamic_ntk_parameters</c> (with <c>dynamic_rope_update</c>): for a sequence of
    /// L = max(<paramref name="sequenceLength"/>, max_position_embeddings) positions,
    /// θ' = θ·(factor·L/max_position_embeddings − (factor − 1))^(d/(d−2)); so θ' = θ up to max_position_embeddings,
    /// which is as far as our tables normally reach (training and generation stop there).
    /// </summary>
    private static double DynamicTheta(int headDim, double theta, double factor, int maxPositionEmbeddings, int sequenceLength)
    {
        if (maxPositionEmbeddings <= 0) throw new ArgumentException("dynamic rope scaling needs max_position_embeddings");
        double length = Math.Max(sequenceLength, maxPositionEmbeddings);
        return theta * Math.Pow(factor * length / maxPositionEmbeddings - (factor - 1), headDim / (headDim - 2.0));
    }

    /// <summary>
    /// Hugging Face's <c>_compute_llama3_parameters</c>: with wavelength λ = 2π/f, L = original context,
    /// λ_low = L/low_freq_factor and λ_high = L/high_freq_factor:
    /// λ &gt; λ_low → f/factor (long waves are stretched); λ &lt; λ_high → f (short waves kept);
    /// otherwise f·((1−s)/factor + s) with s = (L/λ − low_freq_factor)/(high_freq_factor − low_freq_factor).
    /// </summary>
    private static void ApplyLlama3(double[] f, RopeScaling s)
    {
        double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        for (int i = 0; i < f.Length; i++)
        {
            double wavelen = 2 * Math.PI / f[i];
            if (wavelen > lowWavelen) f[i] /= s.Factor;
            else if (wavelen >= highWavelen)
            {
                double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                f[i] = (1 - smooth) * f[i] / s.Factor + smooth * f[i];
            }
        }
    }

    /// <summary>cos and sin tables [<paramref name="maxPositions"/>, headDim/2] as float32 host arrays (row-major).</summary>
    public static (float[] Cos, float[] Sin) Compute(int maxPositions, int headDim, double theta, RopeScaling? scaling, int maxPositionEmbeddings = 0)
    {
        var f = InverseFrequencies(headDim, theta, scaling, maxPositionEmbeddings, maxPositions);
        int h = f.Length;
        var cos = new float[(long)maxPositions * h];
        var sin = new float[cos.Length];
        for (int p = 0; p < maxPositions; p++)
            for (int i = 0; i < h; i++)
            {
                // The angle is formed in float64 so large positions keep their precision (HF forms it in float32).
                double a = p * f[i];
                cos[(long)p * h + i] = (float)Math.Cos(a);
                sin[(long)p * h + i] = (float)Math.Sin(a);
            }
        return (cos, sin);
    }

    /// <summary>The tables of <paramref name="config"/> as F32 tensors [maxPositions, head_dim/2] on <paramref name="backend"/>.
    /// The caller names the positions it will use: never sized by max_position_embeddings alone, which a config may set
    /// to 2^31 − 1 (2^31 · head_dim floats) while a run uses a few thousand.</summary>
    public static (Tensor Cos, Tensor Sin) Create(Backend backend, LlamaConfig config, int maxPositions)
    {
        if (maxPositions <= 0) throw new ArgumentOutOfRangeException(nameof(maxPositions), maxPositions, "positions must be positive");
        int n = maxPositions;
        var (cos, sin) = Compute(n, config.HeadDim, config.RopeTheta, config.RopeScaling, config.MaxPositionEmbeddings);
        var c = Tensor.FromArray(backend, cos, n, config.HeadDim / 2);
        try { return (c, Tensor.FromArray(backend, sin, n, config.HeadDim / 2)); }
        catch { c.Dispose(); throw; }
    }
}
