using System.Runtime.Intrinsics.X86;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LoRAM.Tensors.Cpu;

// Elementwise kernels: each thread takes a contiguous range of elements. Every loop reads element i before it
// writes element i, so an output may alias an input exactly, as the contract allows.
public sealed unsafe partial class CpuBackend
{
    protected override void AddCore(Tensor a, Tensor b, Tensor y) => Binary(a, b, y, static (x, z, o) => TensorPrimitives.Add(x, z, o));
    protected override void SubCore(Tensor a, Tensor b, Tensor y) => Binary(a, b, y, static (x, z, o) => TensorPrimitives.Subtract(x, z, o));
    protected override void MulCore(Tensor a, Tensor b, Tensor y) => Binary(a, b, y, static (x, z, o) => TensorPrimitives.Multiply(x, z, o));

    protected override void ScaleCore(Tensor x, float alpha, Tensor y)
    {
        float* px = Ptr<float>(x), py = Ptr<float>(y);
        ForElements(x.Length, (s, e) => TensorPrimitives.Multiply(Range(px, s, e), alpha, Range(py, s, e)));
    }

    protected override void AxpyCore(float alpha, Tensor x, Tensor y)
    {
        float* px = Ptr<float>(x), py = Ptr<float>(y);
        ForElements(x.Length, (s, e) => TensorPrimitives.MultiplyAdd(Range(px, s, e), alpha, Range(py, s, e), Range(py, s, e)));
    }

    // silu(x) = x·σ(x); σ(x) = 1/(1 + e^(−x)).
    protected override void SiluCore(Tensor x, Tensor y)
    {
        float* px = Ptr<float>(x), py = Ptr<float>(y);
        ForElements(x.Length, (s, e) =>
        {
            int i = s;
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= e; i += 16)
                {
                    var v = Vector512.Load(px + i);
                    (v * Sigmoid(v)).Store(py + i);
                }
            for (; i + 8 <= e; i += 8)
            {
                var v = Vector256.Load(px + i);
                (v * Sigmoid(v)).Store(py + i);
            }
            for (; i < e; i++) py[i] = px[i] * Sigmoid(px[i]);
        });
    }

    // silu'(x) = σ(x)·(1 + x·(1 − σ(x))).
    protected override void SiluBackwardCore(Tensor x, Tensor dy, Tensor dx)
    {
        float* px = Ptr<float>(x), pdy = Ptr<float>(dy), pdx = Ptr<float>(dx);
        ForElements(x.Length, (s, e) =>
        {
            int i = s;
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= e; i += 16)
                    (Vector512.Load(pdy + i) * SiluDerivative(Vector512.Load(px + i))).Store(pdx + i);
            for (; i + 8 <= e; i += 8)
                (Vector256.Load(pdy + i) * SiluDerivative(Vector256.Load(px + i))).Store(pdx + i);
            for (; i < e; i++) pdx[i] = pdy[i] * SiluDerivative(px[i]);
        });
    }

    // LLaMA's MLP: y = silu(gate) ⊙ up.
    protected override void SwiGluCore(Tensor gate, Tensor up, Tensor y)
    {
        float* pg = Ptr<float>(gate), pu = Ptr<float>(up), py = Ptr<float>(y);
        ForElements(gate.Length, (s, e) =>
        {
            int i = s;
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= e; i += 16)
                {
                    var g = Vector512.Load(pg + i);
                    (g * Sigmoid(g) * Vector512.Load(pu + i)).Store(py + i);
                }
            for (; i + 8 <= e; i += 8)
            {
                var g = Vector256.Load(pg + i);
                (g * Sigmoid(g) * Vector256.Load(pu + i)).Store(py + i);
            }
            for (; i < e; i++) py[i] = pg[i] * Sigmoid(pg[i]) * pu[i];
        });
    }

    protected override void SwiGluBackwardCore(Tensor gate, Tensor up, Tensor dy, Tensor dgate, Tensor dup)
    {
        float* pg = Ptr<float>(gate), pu = Ptr<float>(up), pdy = Ptr<float>(dy), pdg = Ptr<float>(dgate), pdu = Ptr<float>(dup);
        ForElements(gate.Length, (s, e) =>
        {
            int i = s;
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= e; i += 16)
                {
                    var g = Vector512.Load(pg + i);
                    var u = Vector512.Load(pu + i);
                    var d = Vector512.Load(pdy + i);
                    var sg = Sigmoid(g);
                    var one = Vector512<float>.One;
                    (d * u * sg * (one + g * (one - sg))).Store(pdg + i);
                    (d * g * sg).Store(pdu + i);
                }
            for (; i + 8 <= e; i += 8)
            {
                var g = Vector256.Load(pg + i);
                var u = Vector256.Load(pu + i);
                var d = Vector256.Load(pdy + i);
                var sg = Sigmoid(g);
                var one = Vector256<float>.One;
                (d * u * sg * (one + g * (one - sg))).Store(pdg + i);
                (d * g * sg).Store(pdu + i);
            }
            for (; i < e; i++)
            {
                float g = pg[i], u = pu[i], d = pdy[i], sg = Sigmoid(g);
                pdg[i] = d * u * sg * (1 + g * (1 - sg));
                pdu[i] = d * g * sg;
            }
        });
    }

    // Inverted dropout; u(seed, i) comes from CounterRng, so the ILGPU backend draws the same mask.
    protected override void DropoutCore(Tensor x, float p, ulong seed, Tensor y)
    {
        float* px = Ptr<float>(x), py = Ptr<float>(y);
        float keepScale = 1f / (1f - p);
        ForElements(x.Length, (s, e) =>
        {
            int i = s;
            if (Avx512DQ.IsSupported) i = DropoutVector512(px, py, p, keepScale, seed, s, e);
            for (; i < e; i++) py[i] = CounterRng.Uniform(seed, i) >= p ? px[i] * keepScale : 0f;
        });
    }

    /// <summary>
    /// <see cref="Dropout"/> 16 elements at a time: CounterRng's SplitMix64 on 8 ulong lanes twice (vpmullq), the top
    /// 24 bits to float exactly as <see cref="CounterRng.Uniform"/> does, so the mask is bit-identical to the scalar
    /// loop and to the ILGPU kernel. Returns the first element it left to the caller.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int DropoutVector512(float* px, float* py, float p, float keepScale, ulong seed, int s, int e)
    {
        var step = Vector512.Create(0x9E3779B97F4A7C15UL);
        var m1 = Vector512.Create(0xBF58476D1CE4E5B9UL);
        var m2 = Vector512.Create(0x94D049BB133111EBUL);
        var vseed = Vector512.Create(seed);
        var lane = Vector512.Create(1UL, 2, 3, 4, 5, 6, 7, 8);
        var vp = Vector512.Create(p);
        var vscale = Vector512.Create(keepScale);
        var unit = Vector512.Create(1f / 16777216f);
        int i = s;
        for (; i + 16 <= e; i += 16)
        {
            var idx = Vector512.Create((ulong)i) + lane;   // index + 1, as CounterRng.Bits
            var lo = Top24(vseed + idx * step, m1, m2);
            var hi = Top24(vseed + (idx + Vector512.Create(8UL)) * step, m1, m2);
            var u = Vector512.ConvertToSingle(Vector512.Narrow(lo, hi)) * unit;
            var keep = Vector512.GreaterThanOrEqual(u, vp);
            Vector512.ConditionalSelect(keep, Vector512.Load(px + i) * vscale, Vector512<float>.Zero).Store(py + i);
        }
        return i;

        static Vector512<ulong> Top24(Vector512<ulong> z, Vector512<ulong> m1, Vector512<ulong> m2)
        {
            z = (z ^ (z >>> 30)) * m1;
            z = (z ^ (z >>> 27)) * m2;
            return (z ^ (z >>> 31)) >>> 40;
        }
    }

    /// <summary>F32 ↔ BF16 ↔ F16; each narrowing rounds once, to nearest even (BF16/F16 widen to F32 exactly first).</summary>
    protected override void ConvertCore(Tensor source, Tensor destination)
    {
        DType from = source.DType, to = destination.DType;
        if (from == to) { Copy(source, destination); return; }
        byte* ps = Ptr<byte>(source), pd = Ptr<byte>(destination);
        ForElements(source.Length, (s, e) =>
        {
            const int Block = 1024;
            float* buffer = stackalloc float[Block];
            for (int b = s; b < e; b += Block)
            {
                int n = Math.Min(Block, e - b);
                var f = from == DType.F32 ? new Span<float>((float*)ps + b, n) : new Span<float>(buffer, n);
                if (from == DType.BF16) ToSingle((ushort*)ps + b, f);
                else if (from == DType.F16) TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)ps + b, n), f);
                if (to == DType.F32) f.CopyTo(new Span<float>((float*)pd + b, n));
                else if (to == DType.BF16) ToBFloat16(f, (ushort*)pd + b);
                else TensorPrimitives.ConvertToHalf(f, new Span<Half>((Half*)pd + b, n));
            }
        });
    }

    /// <summary>y[b] = x[b]ᵀ, in 32×32 tiles so that both the reads and the writes stay in cache.</summary>
    protected override void TransposeCore(Tensor x, Tensor y)
    {
        int r = x.Dim(-2), c = x.Dim(-1);
        const int Tile = 32;
        int batch = checked((int)(x.Length / Math.Max(1L, (long)r * c))), tilesR = (r + Tile - 1) / Tile;
        int elementSize = x.DType.Size();
        byte* px = Ptr<byte>(x), py = Ptr<byte>(y);
        ForRange(batch * tilesR, (long)Tile * c, (s, e) =>
        {
            for (int task = s; task < e; task++)
            {
                int b = task / tilesR, i0 = task % tilesR * Tile, i1 = Math.Min(r, i0 + Tile);
                long o = (long)b * r * c;
                for (int j0 = 0; j0 < c; j0 += Tile)
                {
                    int j1 = Math.Min(c, j0 + Tile);
                    if (elementSize == 4)
                    {
                        float* sx = (float*)px + o, sy = (float*)py + o;
                        for (int i = i0; i < i1; i++)
                        for (int j = j0; j < j1; j++) sy[(long)j * r + i] = sx[(long)i * c + j];
                    }
                    else
                    {
                        ushort* sx = (ushort*)px + o, sy = (ushort*)py + o;
                        for (int i = i0; i < i1; i++)
                        for (int j = j0; j < j1; j++) sy[(long)j * r + i] = sx[(long)i * c + j];
                    }
                }
            }
        });
    }

    // ---- helpers ------------------------------------------------------------------------------

    private delegate void BinarySpanOp(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y);

    private void Binary(Tensor a, Tensor b, Tensor y, BinarySpanOp op)
    {
        float* pa = Ptr<float>(a), pb = Ptr<float>(b), py = Ptr<float>(y);
        ForElements(a.Length, (s, e) => op(Range(pa, s, e), Range(pb, s, e), Range(py, s, e)));
    }

    private static Span<float> Range(float* p, int start, int end) => new(p + start, end - start);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Sigmoid(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));

    // Where AVX-512 is present, Vector512.Exp is several times faster than Vector256.Exp (measured on .NET 10),
    // so the exp-bound kernels run a 16-lane loop first and keep the 8-lane loop for the rest and for AVX2 machines.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Sigmoid(Vector512<float> x) => Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SiluDerivative(Vector512<float> x)
    {
        var s = Sigmoid(x);
        return s * (Vector512<float>.One + x * (Vector512<float>.One - s));
    }

    /// <summary>y = exp(x − shift) over n floats; returns Σ y. The fused step of softmax.</summary>
    internal static float ExpShifted(float* x, float shift, float* y, int n)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512<float>.Zero;
            var vs = Vector512.Create(shift);
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Exp(Vector512.Load(x + i) - vs);
                if (y != null) v.Store(y + i);
                acc += v;
            }
            sum += Vector512.Sum(acc);
        }
        {
            var acc = Vector256<float>.Zero;
            var vs = Vector256.Create(shift);
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.Exp(Vector256.Load(x + i) - vs);
                if (y != null) v.Store(y + i);
                acc += v;
            }
            sum += Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            float v = MathF.Exp(x[i] - shift);
            if (y != null) y[i] = v;
            sum += v;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SiluDerivative(float x) { float s = Sigmoid(x); return s * (1 + x * (1 - s)); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SiluDerivative(Vector256<float> x)
    {
        var s = Sigmoid(x);
        return s * (Vector256<float>.One + x * (Vector256<float>.One - s));
    }

    private static void ToSingle(ushort* bits, Span<float> f)
    {
        for (int i = 0; i < f.Length; i++) f[i] = BFloat16.ToSingle(bits[i]);
    }

    private static void ToBFloat16(ReadOnlySpan<float> f, ushort* bits)
    {
        for (int i = 0; i < f.Length; i++) bits[i] = BFloat16.FromSingle(f[i]);
    }
}
