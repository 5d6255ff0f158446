using ILGPU;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Rotary position embedding, Hugging Face's rotate-half layout; one thread-iteration per rotated pair (i, i + h).
public sealed partial class IlgpuBackend
{
    // y[i] = x[i]·cos θ − x[i+h]·sin θ, y[i+h] = x[i+h]·cos θ + x[i]·sin θ; sign = −1 rotates by −θ (the backward pass).
    // A position outside the tables (not checkable on the host without a download) yields NaN.
    internal static void RopeKernel(Index1D t, long n, int stride, int heads, int half, int maxPositions, float sign,
        ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, ArrayView<int> positions, ArrayView<float> y)
    {
        for (long p = t; p < n; p += stride)
        {
            long vec = p / half;                      // (token, head)
            int i = (int)(p - vec * half);
            long token = vec / heads, o = vec * 2 * half + i;
            int pos = positions[token];
            float a = x[o], b = x[o + half];
            if (pos < 0 || pos >= maxPositions) { y[o] = float.NaN; y[o + half] = float.NaN; continue; }
            float c = cos[(long)pos * half + i], s = sign * sin[(long)pos * half + i];
            y[o] = a * c - b * s;
            y[o + half] = b * c + a * s;
        }
    }

    protected override void RopeCore(Tensor x, Tensor cos, Tensor sin, Tensor positions, bool inverse, Tensor y)
    {
        int heads = x.Dim(1), half = x.Dim(2) / 2;
        long n = (long)x.Dim(0) * heads * half;
        if (n == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, int, float,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>>(RopeKernel));
        int threads = StrideThreads(n);
        kernel(threads, n, threads, heads, half, cos.Rows, inverse ? -1f : 1f, View<float>(x), View<float>(cos), View<float>(sin), View<int>(positions), View<float>(y));
    }
}
