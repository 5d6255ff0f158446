using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Cross-entropy over the vocabulary: one group per row (token), shared-memory max and Σ exp.
public sealed partial class IlgpuBackend
{
    // lse[r] = log Σ exp logits[r, :]; losses[r] = lse[r] − logits[r, target] (0 when ignored, NaN for a target
    // outside the vocabulary, which the host cannot check without a download).
    internal static void CrossEntropyKernel(int vocab, int ignoreIndex, ArrayView<float> logits, ArrayView<int> targets,
        ArrayView<float> losses, ArrayView<float> lse)
    {
        var scratch = SharedMemory.Allocate<float>(KernelMath.MaxRowGroup);
        long row = Grid.IdxX, o = row * vocab;
        float max = float.NegativeInfinity;
        for (int c = Group.IdxX; c < vocab; c += Group.DimX) max = XMath.Max(max, logits[o + c]);
        max = KernelMath.GroupMax(max, scratch);
        float sum = 0f;
        for (int c = Group.IdxX; c < vocab; c += Group.DimX) sum += XMath.Exp(logits[o + c] - max);
        sum = KernelMath.GroupSum(sum, scratch);
        if (Group.IdxX != 0) return;
        float l = max + XMath.Log(sum);
        lse[row] = l;
        int target = targets[row];
        losses[row] = target == ignoreIndex ? 0f : target < 0 || target >= vocab ? float.NaN : l - logits[o + target];
    }

    // dlogits[r, :] = scale · (exp(logits[r, :] − lse[r]) − onehot(target)); zero rows when ignored.
    internal static void CrossEntropyBackwardKernel(Index1D t, long n, int stride, int vocab, int ignoreIndex, float scale,
        ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> lse, ArrayView<float> dlogits)
    {
        for (long i = t; i < n; i += stride)
        {
            long row = i / vocab;
            int c = (int)(i - row * vocab), target = targets[row];
            dlogits[i] = target == ignoreIndex ? 0f : scale * (XMath.Exp(logits[i] - lse[row]) - (c == target ? 1f : 0f));
        }
    }

    protected override void CrossEntropyCore(Tensor logits, Tensor targets, int ignoreIndex, Tensor losses, Tensor lse)
    {
        int n = logits.Rows;
        if (n == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadStreamKernel<int, int,
            ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>>(CrossEntropyKernel));
        kernel(RowConfig(n), logits.Cols, ignoreIndex, View<float>(logits), View<int>(targets), View<float>(losses), View<float>(lse));
    }

    protected override void CrossEntropyBackwardCore(Tensor logits, Tensor targets, Tensor lse, int ignoreIndex, float scale, Tensor dlogits)
    {
        if (logits.Length == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, float,
            ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>>(CrossEntropyBackwardKernel));
        int threads = StrideThreads(logits.Length);
        kernel(threads, logits.Length, threads, logits.Cols, ignoreIndex, scale, View<float>(logits), View<int>(targets), View<float>(lse), View<float>(dlogits));
    }
}
