using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace LoRAM.Tensors.Cpu;

// Row reductions: x viewed as [Rows, Cols], one output per row; threads take contiguous blocks of rows.
public sealed unsafe partial class CpuBackend
{
    protected override void RowSumCore(Tensor x, Tensor y)
    {
        int rows = x.Rows, cols = x.Cols;
        float* px = Ptr<float>(x), py = Ptr<float>(y);
        ForRange(rows, cols, (s, e) =>
        {
            for (int r = s; r < e; r++) py[r] = TensorPrimitives.Sum(new ReadOnlySpan<float>(px + (long)r * cols, cols));
        });
    }

    /// <summary>Σ x² in double: each thread widens its range to double lanes, and the partial sums add in double,
    /// so a global gradient norm over billions of elements keeps its digits (and a NaN or ∞ shows through).</summary>
    protected override double SumSquaresCore(Tensor x)
    {
        float* px = Ptr<float>(x);
        double total = 0;
        object gate = new();
        ForElements(x.Length, (s, e) =>
        {
            var acc = Vector256<double>.Zero;
            int i = s;
            for (; i + 8 <= e; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(px + i));
                acc += lo * lo + hi * hi;
            }
            double sum = Vector256.Sum(acc);
            for (; i < e; i++) sum += (double)px[i] * px[i];
            lock (gate) total += sum;
        });
        return total;
    }
}
