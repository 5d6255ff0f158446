using ILGPU;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Row sums: one group per row, its threads striding over the columns, then a tree reduction in shared
// memory. SumSquares: the same in double over the whole tensor, in two stages; only the total travels to the host.
public sealed partial class IlgpuBackend
{
    internal static void RowSumKernel(int cols, ArrayView<float> x, ArrayView<float> y)
    {
        var scratch = SharedMemory.Allocate<float>(KernelMath.MaxRowGroup);
        long row = Grid.IdxX, o = row * cols;
        float acc = 0f;
        for (int c = Group.IdxX; c < cols; c += Group.DimX) acc += x[o + c];
        acc = KernelMath.GroupSum(acc, scratch);
        if (Group.IdxX == 0) y[row] = acc;
    }

    protected override void RowSumCore(Tensor x, Tensor y)
    {
        if (x.Rows == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadStreamKernel<int, ArrayView<float>, ArrayView<float>>(RowSumKernel));
        kernel(RowConfig(x.Rows), x.Cols, View<float>(x), View<float>(y));
    }

    /// <summary>One group of <see cref="RowGroup"/> threads per row.</summary>
    private KernelConfig RowConfig(int rows) => new(new Index1D(rows), new Index1D(RowGroup));

    /// <summary>Groups of the first SumSquares stage; the second stage is one group of as many threads.</summary>
    internal const int SumSquaresGroups = 256;

    // Stage 1: group g sums x² over its grid-stride share in double (thread partials, then a shared-memory tree);
    // stage 2 (one group) adds the group sums. Fixed shapes and orders: the result is deterministic.
    internal static void SumSquaresKernel(long n, ArrayView<float> x, ArrayView<double> partial)
    {
        var scratch = SharedMemory.Allocate<double>(SumSquaresGroups);
        long stride = (long)Grid.DimX * Group.DimX;
        double acc = 0;
        for (long i = (long)Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride)
        {
            double v = x[i];
            acc += v * v;
        }
        acc = GroupSumDouble(acc, scratch);
        if (Group.IdxX == 0) partial[Grid.IdxX] = acc;
    }

    internal static void SumPartialsKernel(int count, ArrayView<double> partial, ArrayView<double> result)
    {
        var scratch = SharedMemory.Allocate<double>(SumSquaresGroups);
        double acc = 0;
        for (int i = Group.IdxX; i < count; i += Group.DimX) acc += partial[i];
        acc = GroupSumDouble(acc, scratch);
        if (Group.IdxX == 0) result[0] = acc;
    }

    private static double GroupSumDouble(double v, ArrayView<double> scratch)
    {
        int tid = Group.IdxX;
        scratch[tid] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (tid < s) scratch[tid] += scratch[tid + s];
            Group.Barrier();
        }
        return scratch[0];
    }

    protected override double SumSquaresCore(Tensor x)
    {
        if (x.Length == 0) return 0;
        int threads = IsCpu ? 16 : SumSquaresGroups;                          // per group, a power of two
        int groups = (int)Math.Min(IsCpu ? 4 : SumSquaresGroups, (x.Length + threads - 1) / threads);
        using var partial = Tensor.Empty(this, DType.F32, 2 * (groups + 1));   // doubles: the group sums, then the total
        var all = View<double>(partial);
        var sumSquares = Kernels.Get(static acc => acc.LoadStreamKernel<long, ArrayView<float>, ArrayView<double>>(SumSquaresKernel));
        var sumPartials = Kernels.Get(static acc => acc.LoadStreamKernel<int, ArrayView<double>, ArrayView<double>>(SumPartialsKernel));
        sumSquares(new KernelConfig(groups, threads), x.Length, View<float>(x), all.SubView(0, groups));
        sumPartials(new KernelConfig(1, threads), groups, all.SubView(0, groups), all.SubView(groups, 1));
        var total = new double[1];
        Accelerator.Synchronize();
        all.SubView(groups, 1).CopyToCPU(total);
        return total[0];
    }
}
