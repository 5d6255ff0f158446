using System.Collections.Concurrent;
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

    private readonly ConcurrentDictionary<Type, Action<Index1D, long, int, float, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _binary = new();

    private void Binary<TOp>(Tensor a, Tensor b, Tensor y, float alpha, string name) where TOp : struct, IBinaryOp
    {
        RequireSameLength(a, b, name);
        RequireSameLength(a, y, name);
        RequireF32(name, a, b, y);
        if (y.Length == 0) return;
        var kernel = _binary.GetOrAdd(typeof(TOp), _ =>
            Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, float, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BinaryKernel<TOp>));
        int threads = StrideThreads(y.Length);
        kernel(threads, y.Length, threads, alpha, View<float>(a), View<float>(b), View<float>(y));
    }

    public override void Fill(Tensor tensor, float value) => Binary<FillOp>(tensor, tensor, tensor, value, "Fill");
    public override void Add(Tensor a, Tensor b, Tensor y) => Binary<AddOp>(a, b, y, 0f, "Add");
    public override void Sub(Tensor a, Tensor b, Tensor y) => Binary<SubOp>(a, b, y, 0f, "Sub");
    public override void Mul(Tensor a, Tensor b, Tensor y) => Binary<MulOp>(a, b, y, 0f, "Mul");
    public override void Scale(Tensor x, float alpha, Tensor y) => Binary<ScaleOp>(x, x, y, alpha, "Scale");
    public override void Axpy(float alpha, Tensor x, Tensor y) => Binary<AxpyOp>(x, y, y, alpha, "Axpy");
    public override void Silu(Tensor x, Tensor y) => Binary<SiluOp>(x, x, y, 0f, "Silu");
    public override void SiluBackward(Tensor x, Tensor dy, Tensor dx) => Binary<SiluBackwardOp>(x, dy, dx, 0f, "SiluBackward");
    public override void SwiGlu(Tensor gate, Tensor up, Tensor y) => Binary<SwiGluOp>(gate, up, y, 0f, "SwiGlu");

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

    private Action<Index1D, long, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _swiGluBackward;

    public override void SwiGluBackward(Tensor gate, Tensor up, Tensor dy, Tensor dgate, Tensor dup)
    {
        foreach (var t in new[] { up, dy, dgate, dup }) RequireSameLength(gate, t, "SwiGluBackward");
        RequireF32("SwiGluBackward", gate, up, dy, dgate, dup);
        if (gate.Length == 0) return;
        _swiGluBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(SwiGluBackwardKernel);
        int threads = StrideThreads(gate.Length);
        _swiGluBackward(threads, gate.Length, threads, View<float>(gate), View<float>(up), View<float>(dy), View<float>(dgate), View<float>(dup));
    }

    // ---- dropout ------------------------------------------------------------------------------------------

    // Inverted dropout: kept when u(seed, i) ≥ p, scaled by 1/(1−p). u is CounterRng's, so the mask is the CPU backend's.
    internal static void DropoutKernel(Index1D t, long n, int stride, float p, float keepScale, ulong seed, ArrayView<float> x, ArrayView<float> y)
    {
        for (long i = t; i < n; i += stride) y[i] = CounterRng.Uniform(seed, i) >= p ? x[i] * keepScale : 0f;
    }

    private Action<Index1D, long, int, float, float, ulong, ArrayView<float>, ArrayView<float>>? _dropout;

    public override void Dropout(Tensor x, float p, ulong seed, Tensor y)
    {
        RequireSameLength(x, y, "Dropout");
        RequireF32("Dropout", x, y);
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        if (x.Length == 0) return;
        _dropout ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, float, float, ulong, ArrayView<float>, ArrayView<float>>(DropoutKernel);
        int threads = StrideThreads(x.Length);
        _dropout(threads, x.Length, threads, p, 1f / (1f - p), seed, View<float>(x), View<float>(y));
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

    private readonly ConcurrentDictionary<(DType, DType), Action<Tensor, Tensor>> _convert = new();

    public override void Convert(Tensor source, Tensor destination)
    {
        RequireSameLength(source, destination, "Convert");
        DType from = source.DType, to = destination.DType;
        if (from is not (DType.F32 or DType.BF16 or DType.F16) || to is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"Convert: {from} to {to} is not supported");
        if (from == to) { Copy(source, destination); return; }
        if (source.Length == 0) return;
        var run = _convert.GetOrAdd((from, to), pair => pair switch
            {
                (DType.F32, DType.BF16) => ConvertRunner<float, ushort, F32Codec, BF16Codec>(),
                (DType.F32, DType.F16) => ConvertRunner<float, ushort, F32Codec, F16Codec>(),
                (DType.BF16, DType.F32) => ConvertRunner<ushort, float, BF16Codec, F32Codec>(),
                (DType.F16, DType.F32) => ConvertRunner<ushort, float, F16Codec, F32Codec>(),
                (DType.BF16, DType.F16) => ConvertRunner<ushort, ushort, BF16Codec, F16Codec>(),
                _ => ConvertRunner<ushort, ushort, F16Codec, BF16Codec>(),
            });
        run(source, destination);
    }

    private Action<Tensor, Tensor> ConvertRunner<TIn, TOut, TRead, TWrite>()
        where TIn : unmanaged where TOut : unmanaged where TRead : struct, IToFloat<TIn> where TWrite : struct, IFromFloat<TOut>
    {
        var kernel = Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, ArrayView<TIn>, ArrayView<TOut>>(ConvertKernel<TIn, TOut, TRead, TWrite>);
        return (s, d) =>
        {
            int threads = StrideThreads(s.Length);
            kernel(threads, s.Length, threads, View<TIn>(s), View<TOut>(d));
        };
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

    private Action<Index1D, long, int, int, int, ArrayView<float>, ArrayView<float>>? _transpose32;
    private Action<Index1D, long, int, int, int, ArrayView<ushort>, ArrayView<ushort>>? _transpose16;

    public override void Transpose(Tensor x, Tensor y)
    {
        RequireSameLength(x, y, "Transpose");
        if (x.Rank < 2) throw new ArgumentException($"Transpose: {x} is not a matrix");
        int r = x.Dim(-2), c = x.Dim(-1);
        if (y.Dim(-2) != c || y.Dim(-1) != r || y.DType.Size() != x.DType.Size()) throw new ArgumentException($"Transpose: {x} into {y}");
        if (x.Length == 0) return;
        int threads = StrideThreads(x.Length);
        switch (x.DType.Size())
        {
            case 4:
                _transpose32 ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, ArrayView<float>, ArrayView<float>>(TransposeKernel<float>);
                _transpose32(threads, x.Length, threads, r, c, View<float>(x), View<float>(y));
                break;
            case 2:
                _transpose16 ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, ArrayView<ushort>, ArrayView<ushort>>(TransposeKernel<ushort>);
                _transpose16(threads, x.Length, threads, r, c, View<ushort>(x), View<ushort>(y));
                break;
            default: throw new ArgumentException($"Transpose: unsupported dtype {x.DType}");
        }
    }
}
