using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using LoRAM.Tensors.Cpu.Dense;
using LoRAM.Tensors;

namespace LoRAM.Quantization;

/// <summary>
/// QLoRA NF4 quantization of a frozen weight W [out, in] as bitsandbytes does it (blocks of 64, absmax
/// scaling, optional double quantization; see <see cref="Nf4Weight"/> for the layout), plus the named-array
/// form a checkpoint stores:
/// <code>
///   {p}.nf4            U8  [⌈out·in/2⌉]   packed codes, even element in the high nibble
///   {p}.absmax         F32 [blocks]        without double quantization, or
///                      U8  [blocks]        DynamicMap codes of absmax − offset with double quantization, plus
///   {p}.absmax.code    F32 [256]           the DynamicMap levels
///   {p}.absmax.scale   F32 [⌈blocks/256⌉]  one scale per group of 256 blocks
///   {p}.absmax.offset  F32 [1]             mean absmax
///   {p}.shape          I64 [2]             out, in
/// </code>
/// (bitsandbytes' own names for the same arrays: weight, absmax, nested_absmax, nested_quant_map, offset.)
/// Any <c>in</c> is accepted — blocks run along the flattened weight and may straddle two rows.
/// </summary>
public static class Nf4Quantizer
{
    /// <summary>Quantizes a float32 W [rows, cols] (row-major). QLoRA uses double quantization.</summary>
    public static Nf4Weight Quantize(ReadOnlySpan<float> weight, int rows, int cols, bool doubleQuantization = true)
    {
        long count = (long)rows * cols;
        if (rows < 0 || cols < 0 || weight.Length != count) throw new ArgumentException($"expected {rows}×{cols} weights, got {weight.Length}");
        int blocks = (int)((count + Nf4Weight.BlockSize - 1) / Nf4Weight.BlockSize);
        var absmax = new float[blocks];
        var packed = new byte[(count + 1) / 2];
        const int BlocksPerTask = 64;
        unsafe
        {
            fixed (float* pw = weight)
            {
                nint w = (nint)pw;
                Parallel.For(0, (blocks + BlocksPerTask - 1) / BlocksPerTask, Parallelism.Options, task =>
                    QuantizeBlocks((float*)w, count, task * BlocksPerTask, Math.Min(blocks, (task + 1) * BlocksPerTask), absmax, packed));
            }
        }
        if (!doubleQuantization) return new Nf4Weight(rows, cols, packed, absmax, null, null, 0f);

        var (codes, scales, offset) = DoubleQuantize(absmax);
        return new Nf4Weight(rows, cols, packed, null, codes, scales, offset);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void QuantizeBlocks(float* w, long count, int b0, int b1, float[] absmax, byte[] packed)
    {
        Span<byte> codes = stackalloc byte[Nf4Weight.BlockSize];
        for (int b = b0; b < b1; b++)
        {
            long i0 = (long)b * Nf4Weight.BlockSize;
            int length = (int)Math.Min(Nf4Weight.BlockSize, count - i0);
            var block = new ReadOnlySpan<float>(w + i0, length);
            float max = Math.Abs(TensorPrimitives.MaxMagnitude(block));
            absmax[b] = max;
            // bitsandbytes multiplies by the reciprocal; an all-zero block gets the exact-zero code 7.
            if (max == 0) codes[..length].Fill(7);
            else NormalFloat4.Quantize(block, 1f / max, codes[..length]);
            // Blocks have even length, so both nibbles of a byte belong to this block.
            for (int k = 0; k < length; k += 2)
                packed[(i0 + k) >> 1] = (byte)(codes[k] << 4 | (k + 1 < length ? codes[k + 1] : 0));
        }
    }

    /// <summary>Quantizes a bfloat16 W [rows, cols] given as raw 16-bit patterns (widened exactly to float32 first).</summary>
    public static Nf4Weight QuantizeBFloat16(ReadOnlySpan<ushort> weight, int rows, int cols, bool doubleQuantization = true)
    {
        var w = new float[weight.Length];
        for (int i = 0; i < w.Length; i++) w[i] = BFloat16.ToSingle(weight[i]);
        return Quantize(w, rows, cols, doubleQuantization);
    }

    /// <summary>
    /// QLoRA double quantization of the block absmax values: subtract their mean, then bitsandbytes' 8-bit
    /// blockwise quantization with the signed <see cref="DynamicMap"/> in groups of 256.
    /// </summary>
    internal static (byte[] Codes, float[] Scales, float Offset) DoubleQuantize(float[] absmax)
    {
        double sum = 0;
        foreach (float a in absmax) sum += a;
        float offset = absmax.Length == 0 ? 0f : (float)(sum / absmax.Length);
        int groups = (absmax.Length + Nf4Weight.AbsmaxGroupSize - 1) / Nf4Weight.AbsmaxGroupSize;
        var codes = new byte[absmax.Length];
        var scales = new float[groups];
        byte zero = DynamicMap.Quantize(0f);
        for (int g = 0; g < groups; g++)
        {
            int b0 = g * Nf4Weight.AbsmaxGroupSize, b1 = Math.Min(absmax.Length, b0 + Nf4Weight.AbsmaxGroupSize);
            float max = 0;
            for (int b = b0; b < b1; b++) max = Math.Max(max, Math.Abs(absmax[b] - offset));
            scales[g] = max;
            float inv = 1f / max;
            for (int b = b0; b < b1; b++) codes[b] = max == 0 ? zero : DynamicMap.Quantize((absmax[b] - offset) * inv);
        }
        return (codes, scales, offset);
    }

    /// <summary>Largest absolute, root-mean-square and relative Frobenius error of the float32 dequantization against W.</summary>
    public static Nf4Error RoundTripError(ReadOnlySpan<float> weight, Nf4Weight quantized)
    {
        if (weight.Length != quantized.Count) throw new ArgumentException("weight and quantized shapes differ");
        var back = quantized.Dequantize();
        double max = 0, sq = 0, norm = 0;
        for (int i = 0; i < back.Length; i++)
        {
            double e = (double)weight[i] - back[i];
            max = Math.Max(max, Math.Abs(e));
            sq += e * e;
            norm += (double)weight[i] * weight[i];
        }
        return new Nf4Error(max, Math.Sqrt(sq / Math.Max(1, back.Length)), norm == 0 ? 0 : Math.Sqrt(sq / norm));
    }

    /// <summary>The named arrays of the layout in the class remarks (byte[], float[] or long[] values).</summary>
    public static IReadOnlyDictionary<string, Array> ToNamedArrays(Nf4Weight weight, string prefix = "weight")
    {
        var arrays = new Dictionary<string, Array>
        {
            [$"{prefix}.nf4"] = weight.Packed,
            [$"{prefix}.shape"] = new long[] { weight.Rows, weight.Cols },
        };
        if (weight.DoubleQuantized)
        {
            arrays[$"{prefix}.absmax"] = weight.AbsmaxCodes!;
            arrays[$"{prefix}.absmax.code"] = DynamicMap.Signed.ToArray();
            arrays[$"{prefix}.absmax.scale"] = weight.AbsmaxScales!;
            arrays[$"{prefix}.absmax.offset"] = new[] { weight.AbsmaxOffset };
        }
        else arrays[$"{prefix}.absmax"] = weight.Absmax!;
        return arrays;
    }

    /// <summary>Reads the layout back; a stored <c>.absmax.code</c> must be the <see cref="DynamicMap"/>.</summary>
    public static Nf4Weight FromNamedArrays(IReadOnlyDictionary<string, Array> arrays, string prefix = "weight")
    {
        T Get<T>(string name) where T : class =>
            arrays.TryGetValue($"{prefix}.{name}", out var a) && a is T t ? t
                : throw new InvalidDataException($"missing or mistyped NF4 array '{prefix}.{name}' (want {typeof(T).Name})");
        var shape = Get<long[]>("shape");
        if (shape.Length != 2) throw new InvalidDataException($"'{prefix}.shape' must hold [out, in]");
        var packed = Get<byte[]>("nf4");
        int rows = checked((int)shape[0]), cols = checked((int)shape[1]);
        switch (arrays[$"{prefix}.absmax"])
        {
            case float[] absmax:
                return new Nf4Weight(rows, cols, packed, absmax, null, null, 0f);
            case byte[] codes:
                var map = Get<float[]>("absmax.code");
                if (!map.AsSpan().SequenceEqual(DynamicMap.Signed))
                    throw new InvalidDataException($"'{prefix}.absmax.code' is not bitsandbytes' signed dynamic map");
                return new Nf4Weight(rows, cols, packed, null, codes, Get<float[]>("absmax.scale"), Get<float[]>("absmax.offset")[0]);
            default:
                throw new InvalidDataException($"'{prefix}.absmax' must be F32 or U8");
        }
    }
}

/// <summary>Round-trip error of an NF4 weight: max |w − ŵ|, RMS(w − ŵ) and ‖w − ŵ‖ / ‖w‖.</summary>
public readonly record struct Nf4Error(double MaxAbs, double Rms, double Relative);
