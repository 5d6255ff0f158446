using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Softmax and RMSNorm, forward and backward: one group per row (shared-memory reductions for max, Σ and dot
// products). RMSNorm's dweight is reduced in two deterministic stages instead of with atomics: partial sums over
// blocks of rows, then the blocks in a fixed order.
public sealed partial class IlgpuBackend
{
    // y = exp(x − max) / Σ exp(x − max). y may alias x: each element is read and written by the same thread.
    internal static void SoftmaxKernel(int cols, ArrayView<float> x, ArrayView<float> y)
    {
        var scratch = SharedMemory.Allocate<float>(KernelMath.MaxRowGroup);
        long o = (long)Grid.IdxX * cols;
        float max = float.NegativeInfinity;
        for (int c = Group.IdxX; c < cols; c += Group.DimX) max = XMath.Max(max, x[o + c]);
        max = KernelMath.GroupMax(max, scratch);
        float sum = 0f;
        for (int c = Group.IdxX; c < cols; c += Group.DimX)
        {
            float e = XMath.Exp(x[o + c] - max);
            y[o + c] = e;
            sum += e;
        }
        float inv = 1f / KernelMath.GroupSum(sum, scratch);
        for (int c = Group.IdxX; c < cols; c += Group.DimX) y[o + c] *= inv;
    }

    // dx = y ⊙ (dy − Σ dy·y).
    internal static void SoftmaxBackwardKernel(int cols, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx)
    {
        var scratch = SharedMemory.Allocate<float>(KernelMath.MaxRowGroup);
        long o = (long)Grid.IdxX * cols;
        float dot = 0f;
        for (int c = Group.IdxX; c < cols; c += Group.DimX) dot += dy[o + c] * y[o + c];
        dot = KernelMath.GroupSum(dot, scratch);
        for (int c = Group.IdxX; c < cols; c += Group.DimX) dx[o + c] = y[o + c] * (dy[o + c] - dot);
    }

    protected override void SoftmaxCore(Tensor x, Tensor y)
    {
        if (x.Length == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadStreamKernel<int, ArrayView<float>, ArrayView<float>>(SoftmaxKernel));
        kernel(RowConfig(x.Rows), x.Cols, View<float>(x), View<float>(y));
    }

    protected override void SoftmaxBackwardCore(Tensor y, Tensor dy, Tensor dx)
    {
        if (y.Length == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadStreamKernel<int, ArrayView<float>, ArrayView<float>, ArrayView<float>>(SoftmaxBackwardKernel));
        kernel(RowConfig(y.Rows), y.Cols, View<float>(y), View<float>(dy), View<float>(dx));
    }

    // rstd = 1/√(mean x² + eps); y = x · rstd · w.
    internal static void RmsNormKernel(int d, float eps, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ArrayView<float> rstd)
    {
        var scratch = SharedMemory.Allocate<float>(KernelMath.MaxRowGroup);
        long row = Grid.IdxX, o = row * d;
        float ss = 0f;
        for (int c = Group.IdxX; c < d; c += Group.DimX) ss += x[o + c] * x[o + c];
        float r = 1f / XMath.Sqrt(KernelMath.GroupSum(ss, scratch) / d + eps);
        for (int c = Group.IdxX; c < d; c += Group.DimX) y[o + c] = x[o + c] * r * w[c];
        if (Group.IdxX == 0) rstd[row] = r;
    }

    // dx = rstd·(w⊙dy) − x·rstd³/d · Σ(w⊙dy⊙x).
    internal static void RmsNormBackwardKernel(int d, ArrayView<float> x, ArrayView<float> w, ArrayView<float> rstd, ArrayView<float> dy, ArrayView<float> dx)
    {
        var scratch = SharedMemory.Allocate<float>(KernelMath.MaxRowGroup);
        long row = Grid.IdxX, o = row * d;
        float dot = 0f;
        for (int c = Group.IdxX; c < d; c += Group.DimX) dot += w[c] * dy[o + c] * x[o + c];
        dot = KernelMath.GroupSum(dot, scratch);
        float r = rstd[row], k = r * r * r / d * dot;
        for (int c = Group.IdxX; c < d; c += Group.DimX) dx[o + c] = r * w[c] * dy[o + c] - x[o + c] * k;
    }

    /// <summary>Rows per block of the first dweight stage.</summary>
    internal const int RmsNormRowBlock = 64;

    // Stage 1: partial[blk, c] = Σ over the rows of block blk of dy[r, c]·x[r, c]·rstd[r]; one thread per (blk, c).
    internal static void RmsNormWeightPartialKernel(Index1D t, long n, int stride, int rows, int d,
        ArrayView<float> x, ArrayView<float> rstd, ArrayView<float> dy, ArrayView<float> partial)
    {
        for (long i = t; i < n; i += stride)
        {
            long blk = i / d;
            int c = (int)(i - blk * d);
            long r0 = blk * RmsNormRowBlock, r1 = r0 + RmsNormRowBlock < rows ? r0 + RmsNormRowBlock : rows;
            float acc = 0f;
            for (long r = r0; r < r1; r++) acc += dy[r * d + c] * x[r * d + c] * rstd[r];
            partial[i] = acc;
        }
    }

    // Stage 2: dweight[c] += Σ_blk partial[blk, c], blocks in order.
    internal static void RmsNormWeightSumKernel(Index1D t, long n, int stride, int blocks, ArrayView<float> partial, ArrayView<float> dweight)
    {
        for (long c = t; c < n; c += stride)
        {
            float acc = 0f;
            for (int b = 0; b < blocks; b++) acc += partial[b * n + c];
            dweight[c] += acc;
        }
    }

    protected override void RmsNormCore(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd)
    {
        if (x.Length == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadStreamKernel<int, float,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(RmsNormKernel));
        kernel(RowConfig(x.Rows), x.Cols, eps, View<float>(x), View<float>(weight), View<float>(y), View<float>(rstd));
    }

    protected override void RmsNormBackwardCore(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor? dweight)
    {
        int d = x.Cols, rows = x.Rows;
        if (x.Length == 0) return;
        // dweight first: dx may alias dy.
        if (dweight != null)
        {
            int blocks = (rows + RmsNormRowBlock - 1) / RmsNormRowBlock;
            long n = (long)blocks * d;
            using var partial = Tensor.Empty(this, blocks, d);
            var partialSums = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(RmsNormWeightPartialKernel));
            var blockSum = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, int,
                ArrayView<float>, ArrayView<float>>(RmsNormWeightSumKernel));
            int threads = StrideThreads(n);
            partialSums(threads, n, threads, rows, d, View<float>(x), View<float>(rstd), View<float>(dy), View<float>(partial));
            threads = StrideThreads(d);
            blockSum(threads, d, threads, blocks, View<float>(partial), View<float>(dweight));
        }
        var kernel = Kernels.Get(static acc => acc.LoadStreamKernel<int,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(RmsNormBackwardKernel));
        kernel(RowConfig(rows), d, View<float>(x), View<float>(weight), View<float>(rstd), View<float>(dy), View<float>(dx));
    }
}
