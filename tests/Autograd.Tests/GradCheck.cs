using LoRAM.Tensors;

namespace LoRAM.Autograd.Tests;

/// <summary>
/// Finite-difference gradient check. The op runs in float32 on the backend; the check projects its output on a
/// fixed random direction R, L(θ) = Σ R ⊙ f(θ) summed in double, and compares the tape's gradient dL/dθ with the
/// float64 central difference (L(θ + h) − L(θ − h)) / (2h) element by element (all elements of small inputs, a
/// random sample of 48 of larger ones). The error is the worse of two measures per input: max |analytic − numeric| /
/// max(max |numeric|, 0.05) — scaled by the largest gradient, it hides a wrong small gradient beside a large one — and
/// the relative error |analytic − numeric| / |numeric| of every element whose |numeric| is not tiny (at least
/// <see cref="NotTiny"/> of the largest and 0.05), so each such element is checked on its own scale.
/// </summary>
internal static class GradCheck
{
    public static Random Rng(int seed) => new(seed);

    /// <summary>Elements whose numeric gradient is at least this fraction of the input's largest get a relative check.</summary>
    public const double NotTiny = 0.1;

    public static float[] Uniform(Random rng, int n, float scale = 1f) =>
        Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();

    public static Tensor Rand(Backend be, Random rng, params int[] shape) =>
        Tensor.FromArray(be, Uniform(rng, (int)Tensor.Elements(shape)), shape);

    /// <summary>The worst relative error over all <paramref name="inputs"/> (the function reads them as Vars, in order).</summary>
    public static double Error(Backend be, Func<Tape, Var[], Var> f, float[][] inputs, int[][] shapes, double h = 1e-2, int seed = 7)
    {
        var rng = new Random(seed);
        // Analytic gradients.
        var vars = inputs.Select((x, i) => Var.Parameter(Tensor.FromArray(be, x, shapes[i]), $"in{i}")).ToArray();
        float[] direction;
        var analytic = new float[inputs.Length][];
        using (var tape = new Tape(be))
        {
            var y = f(tape, vars);
            direction = Uniform(rng, (int)y.Value.Length);
            using var seedGrad = Tensor.FromArray(be, direction, y.Value.ShapeArray());
            tape.Backward(y, seedGrad);
            for (int i = 0; i < vars.Length; i++)
                analytic[i] = vars[i].Grad?.ToArray<float>() ?? new float[inputs[i].Length];
        }
        foreach (var v in vars) v.Dispose();

        double Objective(float[][] xs)
        {
            var vs = xs.Select((x, i) => Var.Constant(Tensor.FromArray(be, x, shapes[i]))).ToArray();
            using var tape = new Tape(be);
            double sum = 0;
            using (tape.NoGrad())
            {
                var y = f(tape, vs).Value.ToArray<float>();
                for (int k = 0; k < y.Length; k++) sum += (double)direction[k] * y[k];
            }
            foreach (var v in vs) v.Dispose();
            return sum;
        }

        double worst = 0;
        for (int i = 0; i < inputs.Length; i++)
        {
            var idx = Enumerable.Range(0, inputs[i].Length).ToArray();
            if (idx.Length > 48) idx = idx.OrderBy(_ => rng.Next()).Take(48).ToArray();
            double maxDiff = 0, maxNum = 0;
            var pairs = new List<(double Numeric, double Analytic)>();
            foreach (int j in idx)
            {
                var xs = inputs.Select(a => (float[])a.Clone()).ToArray();
                float x0 = inputs[i][j];
                float plus = (float)(x0 + h), minus = (float)(x0 - h);
                xs[i][j] = plus; double lp = Objective(xs);
                xs[i][j] = minus; double lm = Objective(xs);
                double numeric = (lp - lm) / ((double)plus - minus);
                maxDiff = Math.Max(maxDiff, Math.Abs(numeric - analytic[i][j]));
                maxNum = Math.Max(maxNum, Math.Abs(numeric));
                pairs.Add((numeric, analytic[i][j]));
            }
            worst = Math.Max(worst, maxDiff / Math.Max(maxNum, 0.05));
            foreach (var (numeric, a) in pairs)
                if (Math.Abs(numeric) >= Math.Max(NotTiny * maxNum, 0.05))
                    worst = Math.Max(worst, Math.Abs(numeric - a) / Math.Abs(numeric));
        }
        return worst;
    }
}
