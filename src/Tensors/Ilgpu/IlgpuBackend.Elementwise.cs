using ILGPU;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Elementwise kernels: a grid-stride loop, thread t handling elements t, t + threads, t + 2·threads, ... (coalesced
// on a GPU, and few emulated threads on the CPU accelerator). Each element is read before it is written by the same
// thread, so an output may alias an input exactly.
public sealed partial class IlgpuBackend
{
    // ---- binary maps y = f(a, b, alpha), one generic kernel per f -----------------------------------------

    internal interface IBinaryOp { float Apply(float a, float b, float alpha); }
    internal readonly struct AddOp : IBinaryOp { public float Apply(float a, float b, float alpha) => a + b; }
    internal readonly struct SubOp : IBinaryOp { public float Apply(float a, float b, float alpha) => a - b; }
    internal readonly struct MulOp : IBinaryOp { public float Apply(float a, float b, float alpha) => a * b; }
    /// <summary>y = alpha · a (b unused).</summary>
    internal readonly struct ScaleOp : IBinaryOp { public float Apply(float a, float b, float alpha) => alpha * a; }
    /// <summary>y = b + alpha · a, called with b = y.</summary>
    internal readonly struct AxpyOp : IBinaryOp { public float Apply(float a, float b, float alpha) => b + alpha * a; }
    /// <summary>y = fill value (a, b unused).</summary>
    internal readonly struct FillOp : IBinaryOp { public float Apply(float a, float b, float alpha) => alpha; }
    internal readonly struct SiluOp : IBinaryOp { public float Apply(float x, float b, float alpha) => x * KernelMath.Sigmoid(x); }
    /// <summary>dy · silu'(x), silu'(x) = σ(x)(1 + x(1 − σ(x))).</summary>
    internal readonly struct SiluBackwardOp : IBinaryOp
    {
        public float Apply(float x, float dy, float alpha)
        {
            float s = KernelMath.Sigmoid(x);
            return dy * s * (1f + x * (1f - s));
        }
    }
    internal readonly struct SwiGluOp : IBinaryOp { public float Apply(float g, float u, float alpha) => g * KernelMath.Sigmoid(g) * u; }

    internal static void BinaryKernel<TOp>(Index1D t, long n, int stride, float alpha, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
        where TOp : struct, IBinaryOp
    {
        TOp op = default;
        for (long i = t; i < n; i += stride) y[i] = op.Apply(a[i], b[i], alpha);
    }

    private void Binary<TOp>(Tensor a, Tensor b, Tensor y, float alpha) where TOp : struct, IBinaryOp
    {
        if (y.Length == 0) return;
        var kernel = Kernels.Get(static acc =>
            acc.LoadAutoGroupedStreamKernel<Index1D, long, int, float, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BinaryKernel<TOp>));
        int threads = StrideThreads(y.Length);
        kernel(threads, y.Length, threads, alpha, View<float>(a), View<float>(b), View<float>(y));
    }

    protected override void FillCore(Tensor tensor, float value) => Binary<FillOp>(tensor, tensor, tensor, value);
    protected override void AddCore(Tensor a, Tensor b, Tensor y) => Binary<AddOp>(a, b, y, 0f);
    protected override void SubCore(Tensor a, Tensor b, Tensor y) => Binary<SubOp>(a, b, y, 0f);
    protected override void MulCore(Tensor a, Tensor b, Tensor y) => Binary<MulOp>(a, b, y, 0f);
    protected override void ScaleCore(Tensor x, float alpha, Tensor y) => Binary<ScaleOp>(x, x, y, alpha);
    protected override void AxpyCore(float alpha, Tensor x, Tensor y) => Binary<AxpyOp>(x, y, y, alpha);
    protected override void SiluCore(Tensor x, Tensor y) => Binary<SiluOp>(x, x, y, 0f);
    protected override void SiluBackwardCore(Tensor x, Tensor dy, Tensor dx) => Binary<SiluBackwardOp>(x, dy, dx, 0f);
    protected override void SwiGluCore(Tensor gate, Tensor up, Tensor y) => Binary<SwiGluOp>(gate, up, y, 0f);

    // ---- SwiGLU backward: two outputs ---------------------------------------------------------------------

    // dgate = dy ⊙ up ⊙ silu'(gate); dup = dy ⊙ silu(gate).
    internal static void SwiGluBackwardKernel(Index1D t, long n, int stride, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> dy,
        ArrayView<float> dgate, ArrayView<float> dup)
    {
        for (long i = t; i < n; i += stride)
        {
            float g = gate[i], u = up[i], d = dy[i], s = KernelMath.Sigmoid(g);
            dgate[i] = d * u * s * (1f + g * (1f - s));
            dup[i] = d * g * s;
        }
    }

    protected override void SwiGluBackwardCore(Tensor gate, Tensor up, Tensor dy, Tensor dgate, Tensor dup)
    {
        if (gate.Length == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(SwiGluBackwardKernel));
        int threads = StrideThreads(gate.Length);
        kernel(threads, gate.Length, threads, View<float>(gate), View<float>(up), View<float>(dy), View<float>(dgate), View<float>(dup));
    }

    // ---- dropout ------------------------------------------------------------------------------------------

    // Inverted dropout: kept when u(seed, i) ≥ p, scaled by 1/(1−p). u is CounterRng's, so the mask is the CPU backend's.
    internal static void DropoutKernel(Index1D t, long n, int stride, float p, float keepScale, ulong seed, ArrayView<float> x, ArrayView<float> y)
    {
        for (long i = t; i < n; i += stride) y[i] = CounterRng.Uniform(seed, i) >= p ? x[i] * keepScale : 0f;
    }

    protected override void DropoutCore(Tensor x, float p, ulong seed, Tensor y)
    {
        if (x.Length == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, float, float, ulong, ArrayView<float>, ArrayView<float>>(DropoutKernel));
        int threads = StrideThreads(x.Length);
        kernel(threads, x.Length, threads, p, 1f / (1f - p), seed, View<float>(x), View<float>(y));
    }

    // ---- dtype conversion ---------------------------------------------------------------------------------

    // Narrowing rounds once, to nearest even; 16-bit sources widen to float32 exactly first.
    internal static void ConvertKernel<TIn, TOut, TRead, TWrite>(Index1D t, long n, int stride, ArrayView<TIn> x, ArrayView<TOut> y)
        where TIn : unmanaged where TOut : unmanaged where TRead : struct, IToFloat<TIn> where TWrite : struct, IFromFloat<TOut>
    {
        TRead read = default;
        TWrite write = default;
        for (long i = t; i < n; i += stride) y[i] = write.FromFloat(read.ToFloat(x[i]));
    }

    protected override void ConvertCore(Tensor source, Tensor destination)
    {
        if (source.DType == destination.DType) { Copy(source, destination); return; }
        if (source.Length == 0) return;
        switch (source.DType, destination.DType)
        {
            case (DType.F32, DType.BF16): ConvertElements<float, ushort, F32Codec, BF16Codec>(source, destination); break;
            case (DType.F32, DType.F16): ConvertElements<float, ushort, F32Codec, F16Codec>(source, destination); break;
            case (DType.BF16, DType.F32): ConvertElements<ushort, float, BF16Codec, F32Codec>(source, destination); break;
            case (DType.F16, DType.F32): ConvertElements<ushort, float, F16Codec, F32Codec>(source, destination); break;
            case (DType.BF16, DType.F16): ConvertElements<ushort, ushort, BF16Codec, F16Codec>(source, destination); break;
            default: ConvertElements<ushort, ushort, F16Codec, BF16Codec>(source, destination); break;
        }
    }

    private void ConvertElements<TIn, TOut, TRead, TWrite>(Tensor source, Tensor destination)
        where TIn : unmanaged where TOut : unmanaged where TRead : struct, IToFloat<TIn> where TWrite : struct, IFromFloat<TOut>
    {
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, ArrayView<TIn>, ArrayView<TOut>>(ConvertKernel<TIn, TOut, TRead, TWrite>));
        int threads = StrideThreads(source.Length);
        kernel(threads, source.Length, threads, View<TIn>(source), View<TOut>(destination));
    }

    // ---- transpose ----------------------------------------------------------------------------------------

    // One thread per output element (writes coalesced): y[b, j, i] = x[b, i, j] for x [.., r, c].
    internal static void TransposeKernel<T>(Index1D t, long n, int stride, int r, int c, ArrayView<T> x, ArrayView<T> y) where T : unmanaged
    {
        long plane = (long)r * c;
        for (long o = t; o < n; o += stride)
        {
            long b = o / plane, rem = o - b * plane;
            long j = rem / r, i = rem - j * r;
            y[o] = x[b * plane + i * c + j];
        }
    }

    protected override void TransposeCore(Tensor x, Tensor y)
    {
        if (x.Length == 0) return;
        if (x.DType.Size() == 4) TransposeElements<float>(x, y);
        else TransposeElements<ushort>(x, y);
    }

    private void TransposeElements<T>(Tensor x, Tensor y) where T : unmanaged
    {
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, ArrayView<T>, ArrayView<T>>(TransposeKernel<T>));
        int threads = StrideThreads(x.Length);
        kernel(threads, x.Length, threads, x.Dim(-2), x.Dim(-1), View<T>(x), View<T>(y));
    }
}
