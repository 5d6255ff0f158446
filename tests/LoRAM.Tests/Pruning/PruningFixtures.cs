namespace LoRAM.Tests.Pruning;

/// <summary>Seeded random problems shared by the pruning tests.</summary>
internal static class PruningFixtures
{
    public static float[] Gaussian(Random rng, int count, double scale = 1.0)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++)
            x[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return x;
    }

    /// <summary>
    /// Correlated layer inputs X [n, cols] = Z A + 0.1 · noise with a rank-<paramref name="rank"/> latent Z, as
    /// LLM activations are: strongly correlated features with a few outlier directions.
    /// </summary>
    public static float[] CorrelatedInputs(Random rng, int n, int cols, int rank)
    {
        var z = Gaussian(rng, n * rank);
        var a = Gaussian(rng, rank * cols);
        var noise = Gaussian(rng, n * cols, 0.1);
        var x = new float[n * cols];
        for (int s = 0; s < n; s++)
            for (int j = 0; j < cols; j++)
            {
                double v = noise[s * cols + j];
                for (int t = 0; t < rank; t++) v += z[s * rank + t] * a[t * cols + j];
                x[s * cols + j] = (float)v;
            }
        return x;
    }

    /// <summary>H = (2/n) Σ x xᵀ, the plain triple loop.</summary>
    public static double[] ReferenceHessian(float[] x, int n, int cols)
    {
        var h = new double[cols * cols];
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++)
            {
                double s = 0;
                for (int t = 0; t < n; t++) s += (double)x[t * cols + i] * x[t * cols + j];
                h[i * cols + j] = 2.0 * s / n;
            }
        return h;
    }

    public static double MaxAbs(ReadOnlySpan<double> x)
    {
        double m = 0;
        foreach (double v in x) m = Math.Max(m, Math.Abs(v));
        return m;
    }
}
