using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace LoRAM.Tensors.Cpu;

// Row softmax and RMSNorm, forward and backward side by side; one row is one unit of work.
public sealed unsafe partial class CpuBackend
{
    // y = exp(x − max) / Σ exp(x − max), max subtracted so that no exponent overflows.
    protected override void SoftmaxCore(Tensor x, Tensor y)
    {
        int rows = x.Rows, cols = x.Cols;
        float* px = Ptr<float>(x), py = Ptr<float>(y);
        ForRange(rows, 4L * cols, (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                float* xr = px + (long)r * cols, yr = py + (long)r * cols;
                float max = TensorPrimitives.Max(new ReadOnlySpan<float>(xr, cols));
                float sum = ExpShifted(xr, max, yr, cols);
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(yr, cols), 1f / sum, new Span<float>(yr, cols));
            }
        });
    }

    // dx = y ⊙ (dy − Σ dy·y): the Jacobian of softmax applied to dy.
    protected override void SoftmaxBackwardCore(Tensor y, Tensor dy, Tensor dx)
    {
        int rows = y.Rows, cols = y.Cols;
        float* py = Ptr<float>(y), pdy = Ptr<float>(dy), pdx = Ptr<float>(dx);
        ForRange(rows, 3L * cols, (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                long o = (long)r * cols;
                float dot = TensorPrimitives.Dot(new ReadOnlySpan<float>(py + o, cols), new ReadOnlySpan<float>(pdy + o, cols));
                var vdot = Vector256.Create(dot);
                int c = 0;
                for (; c + 8 <= cols; c += 8)
                    (Vector256.Load(py + o + c) * (Vector256.Load(pdy + o + c) - vdot)).Store(pdx + o + c);
                for (; c < cols; c++) pdx[o + c] = py[o + c] * (pdy[o + c] - dot);
            }
        });
    }

    // RMSNorm (Zhang & Sennrich 2019), as in LLaMA: rstd = 1/√(mean x² + eps), y = x·rstd·w.
    protected override void RmsNormCore(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd)
    {
        int rows = x.Rows, d = x.Cols;
        float* px = Ptr<float>(x), pw = Ptr<float>(weight), py = Ptr<float>(y), pr = Ptr<float>(rstd);
        ForRange(rows, 2L * d, (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                long o = (long)r * d;
                float rs = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(new ReadOnlySpan<float>(px + o, d)) / d + eps);
                pr[r] = rs;
                var vrs = Vector256.Create(rs);
                int c = 0;
                for (; c + 8 <= d; c += 8)
                    (Vector256.Load(px + o + c) * vrs * Vector256.Load(pw + c)).Store(py + o + c);
                for (; c < d; c++) py[o + c] = px[o + c] * rs * pw[c];
            }
        });
    }

    // With g = w⊙dy: dx = rstd·g − x·rstd³/d·Σ(g⊙x); dweight += Σ_rows dy⊙x·rstd.
    // Threads own disjoint rows of dx; each sums its rows' dweight into a private buffer, and the buffers are
    // added to dweight at the end, so the accumulation needs no atomics.
    protected override void RmsNormBackwardCore(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor? dweight)
    {
        int rows = x.Rows, d = x.Cols;
        float* px = Ptr<float>(x), pw = Ptr<float>(weight), pr = Ptr<float>(rstd), pdy = Ptr<float>(dy), pdx = Ptr<float>(dx);
        float* pdw = dweight == null ? null : Ptr<float>(dweight);
        object gate = new();
        ForRange(rows, 4L * d, (s, e) =>
        {
            float[]? partial = pdw == null ? null : new float[d];
            for (int r = s; r < e; r++)
            {
                long o = (long)r * d;
                float rs = pr[r];
                // Σ w·dy·x, vectorised.
                var acc = Vector256<float>.Zero;
                int c = 0;
                for (; c + 8 <= d; c += 8) acc += Vector256.Load(pw + c) * Vector256.Load(pdy + o + c) * Vector256.Load(px + o + c);
                float dot = Vector256.Sum(acc);
                for (; c < d; c++) dot += pw[c] * pdy[o + c] * px[o + c];

                float k = rs * rs * rs / d * dot;
                var vrs = Vector256.Create(rs);
                var vk = Vector256.Create(k);
                c = 0;
                fixed (float* pp = partial)
                {
                    for (; c + 8 <= d; c += 8)
                    {
                        var xv = Vector256.Load(px + o + c);
                        var dyv = Vector256.Load(pdy + o + c);
                        if (pp != null) (Vector256.Load(pp + c) + dyv * xv * vrs).Store(pp + c);
                        (vrs * Vector256.Load(pw + c) * dyv - xv * vk).Store(pdx + o + c);
                    }
                    for (; c < d; c++)
                    {
                        float xv = px[o + c], dyv = pdy[o + c];
                        if (pp != null) pp[c] += dyv * xv * rs;
                        pdx[o + c] = rs * pw[c] * dyv - xv * k;
                    }
                }
            }
            if (partial != null)
                lock (gate) TensorPrimitives.Add(new ReadOnlySpan<float>(pdw, d), partial, new Span<float>(pdw, d));
        });
    }
}
