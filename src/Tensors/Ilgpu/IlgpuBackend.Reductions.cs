using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Row reductions: one group per row, its threads striding over the columns, then a tree reduction in shared
// memory. SumSquares: per-thread partial sums in double, added on the host in a fixed order (deterministic).
public sealed partial class IlgpuBackend
{
    internal const int RowSumOp = 0, RowMaxOp = 1, RowMeanSquareOp = 2;

    internal static void RowReduceKernel(int cols, int op, ArrayView<float> x, ArrayView<float> y)
    {
        var scratch = SharedMemory.Allocate<float>(KernelMath.MaxRowGroup);
        long row = Grid.IdxX, o = row * cols;
        float acc = op == RowMaxOp ? float.NegativeInfinity : 0f;
        for (int c = Group.IdxX; c < cols; c += Group.DimX)
        {
            float v = x[o + c];
            if (op == RowMaxOp) acc = XMath.Max(acc, v);
            else acc += op == RowSumOp ? v : v * v;
        }
        float r = op == RowMaxOp ? KernelMath.GroupMax(acc, scratch) : KernelMath.GroupSum(acc, scratch);
        if (Group.IdxX == 0) y[row] = op == RowMeanSquareOp ? r / cols : r;
    }

    private Action<KernelConfig, int, int, ArrayView<float>, ArrayView<float>>? _rowReduce;

    private void RowReduce(Tensor x, Tensor y, int op, string name)
    {
        RequireF32(name, x, y);
        if (y.Length != x.Rows) throw new ArgumentException($"{name}: {x} has {x.Rows} rows but {y} has {y.Length} elements");
        if (x.Rows == 0) return;
        _rowReduce ??= Accelerator.LoadStreamKernel<int, int, ArrayView<float>, ArrayView<float>>(RowReduceKernel);
        _rowReduce(RowConfig(x.Rows), x.Cols, op, View<float>(x), View<float>(y));
    }

    /// <summary>One group of <see cref="RowGroup"/> threads per row.</summary>
    private KernelConfig RowConfig(int rows) => new(new Index1D(rows), new Index1D(RowGroup));

    public override void RowSum(Tensor x, Tensor y) => RowReduce(x, y, RowSumOp, "RowSum");
    public override void RowMax(Tensor x, Tensor y) => RowReduce(x, y, RowMaxOp, "RowMax");
    public override void RowMeanSquare(Tensor x, Tensor y) => RowReduce(x, y, RowMeanSquareOp, "RowMeanSquare");

    internal static void SumSquaresKernel(Index1D t, long n, int stride, ArrayView<float> x, ArrayView<double> partial)
    {
        double acc = 0;
        for (long i = t; i < n; i += stride)
        {
            double v = x[i];
            acc += v * v;
        }
        partial[t] = acc;
    }

    private Action<Index1D, long, int, ArrayView<float>, ArrayView<double>>? _sumSquares;

    public override double SumSquares(Tensor x)
    {
        RequireF32("SumSquares", x);
        if (x.Length == 0) return 0;
        int threads = Math.Min(StrideThreads(x.Length), 1 << 16);   // the partials travel to the host
        using var partial = Tensor.Empty(this, DType.F32, 2 * threads);   // doubles, two floats' worth each
        _sumSquares ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, ArrayView<float>, ArrayView<double>>(SumSquaresKernel);
        _sumSquares(threads, x.Length, threads, View<float>(x), View<double>(partial));
        var host = new double[threads];
        Download(partial, System.Runtime.InteropServices.MemoryMarshal.AsBytes(host.AsSpan()));
        double sum = 0;
        foreach (var v in host) sum += v;
        return sum;
    }
}
