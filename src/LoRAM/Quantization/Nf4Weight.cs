using System.Runtime.CompilerServices;
using LoRAM.Tensors.Cpu.Dense;

namespace LoRAM.Quantization;

/// <summary>
/// A weight W [rows, cols] stored as QLoRA NF4, laid out as bitsandbytes' quantize_4bit (blocksize 64):
/// <list type="bullet">
/// <item>The row-major weight is flattened and cut into blocks of 64 consecutive elements (the last may be
/// short). Each block b keeps absmax_b = max |w| and every element the NF4 code of w · (1/absmax_b).</item>
/// <item>Two codes per byte, bitsandbytes' order: element 2j in the HIGH nibble, element 2j+1 in the LOW
/// nibble of byte j. An odd element count leaves the last low nibble 0.</item>
/// <item>Double quantization (QLoRA §3): c = mean(absmax); the values absmax_b − c are cut into groups of 256,
/// each with a float32 scale s_g = max |absmax_b − c| and an 8-bit <see cref="DynamicMap"/> code per block,
/// so absmax_b ≈ map[code_b] · s_g + c.</item>
/// <item>Dequantization (float32, as bitsandbytes): ŵ = NF4[code] · absmax_b.</item>
/// </list>
/// Blocks run along the flattened weight, so any cols works: when cols is not a multiple of 64 (LLaMA's down_proj
/// with intermediate_size 688, say) a block straddles two rows, and a row range starts or ends inside a block.
/// </summary>
public sealed class Nf4Weight
{
    public const int BlockSize = 64;
    public const int AbsmaxGroupSize = 256;

    internal Nf4Weight(int rows, int cols, byte[] packed, float[]? absmax, byte[]? absmaxCodes, float[]? absmaxScales, float absmaxOffset)
    {
        Rows = rows; Cols = cols;
        long count = (long)rows * cols;
        int blocks = (int)((count + BlockSize - 1) / BlockSize);
        if (packed.Length != (count + 1) / 2) throw new ArgumentException($"expected {(count + 1) / 2} packed bytes, got {packed.Length}");
        if (absmax is null == absmaxCodes is null) throw new ArgumentException("give either float32 absmax or double-quantized absmax");
        if (absmax is not null && absmax.Length != blocks) throw new ArgumentException($"expected {blocks} absmax values");
        if (absmaxCodes is not null && (absmaxCodes.Length != blocks || absmaxScales is null
            || absmaxScales.Length != (blocks + AbsmaxGroupSize - 1) / AbsmaxGroupSize))
            throw new ArgumentException("double-quantized absmax arrays do not match the block count");
        Packed = packed; Absmax = absmax; AbsmaxCodes = absmaxCodes; AbsmaxScales = absmaxScales; AbsmaxOffset = absmaxOffset;
    }

    public int Rows { get; }
    public int Cols { get; }
    public long Count => (long)Rows * Cols;
    public int Blocks => (int)((Count + BlockSize - 1) / BlockSize);

    /// <summary>Packed codes, ⌈count / 2⌉ bytes (see the class remarks for the nibble order).</summary>
    public byte[] Packed { get; }

    /// <summary>Float32 absmax per block, or null when double-quantized.</summary>
    public float[]? Absmax { get; }

    /// <summary>8-bit <see cref="DynamicMap"/> code of absmax_b − offset per block (double quantization), else null.</summary>
    public byte[]? AbsmaxCodes { get; }

    /// <summary>Float32 scale per group of 256 blocks (double quantization), else null.</summary>
    public float[]? AbsmaxScales { get; }

    /// <summary>The mean absmax subtracted before double quantization (0 without).</summary>
    public float AbsmaxOffset { get; }

    public bool DoubleQuantized => AbsmaxCodes is not null;

    /// <summary>
    /// Storage per weight in bits: 4 + 32/64 = 4.5, or with double quantization 4 + 8/64 + 32/(64·256) ≈ 4.127.
    /// Counts the packed codes and the per-block/per-group statistics actually stored; the per-tensor constants
    /// (offset, the 256-entry map) are left out, as QLoRA's accounting does.
    /// </summary>
    public double BitsPerParameter
    {
        get
        {
            double bits = Packed.LongLength * 8.0;
            bits += DoubleQuantized ? AbsmaxCodes!.Length * 8.0 + AbsmaxScales!.Length * 32.0 : Absmax!.Length * 32.0;
            return bits / Count;
        }
    }

    /// <summary>The code index of element i of the flattened weight.</summary>
    public int CodeAt(long i) => (i & 1) == 0 ? Packed[i >> 1] >> 4 : Packed[i >> 1] & 0xF;

    /// <summary>absmax_b as dequantization uses it (reconstructed from the double quantization when present).</summary>
    public float BlockAbsmax(int block)
    {
        if (!DoubleQuantized) return Absmax![block];
        float scaled = DynamicMap.Signed[AbsmaxCodes![block]] * AbsmaxScales![block / AbsmaxGroupSize];
        return scaled + AbsmaxOffset;
    }

    /// <summary>The whole weight in float32, [rows, cols] row-major.</summary>
    public float[] Dequantize()
    {
        var result = new float[Count];
        DequantizeRows(0, Rows, result);
        return result;
    }

    /// <summary>Rows [firstRow, firstRow + rowCount) in float32 into <paramref name="destination"/> [rowCount, cols]: the on-the-fly path of an NF4 GEMM.</summary>
    public void DequantizeRows(int firstRow, int rowCount, Span<float> destination)
    {
        if (firstRow < 0 || rowCount < 0 || firstRow + rowCount > Rows) throw new ArgumentOutOfRangeException(nameof(firstRow));
        long start = (long)firstRow * Cols, count = (long)rowCount * Cols;
        if (destination.Length < count) throw new ArgumentException($"destination holds {destination.Length} < {count} elements");
        if (count == 0) return;
        int firstBlock = (int)(start / BlockSize), lastBlock = (int)((start + count - 1) / BlockSize);
        const int BlocksPerTask = 64;
        int tasks = (lastBlock - firstBlock) / BlocksPerTask + 1;
        unsafe
        {
            fixed (float* dst = destination)
            {
                nint d = (nint)(dst - start); // element i of the flattened weight lands at d[i]
                Parallel.For(0, tasks, Parallelism.Options, task =>
                {
                    int b0 = firstBlock + task * BlocksPerTask;
                    DequantizeBlocks(b0, Math.Min(lastBlock + 1, b0 + BlocksPerTask), start, start + count, (float*)d);
                });
            }
        }
    }

    /// <summary>Elements [from, to) of blocks [b0, b1) into d[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void DequantizeBlocks(int b0, int b1, long from, long to, float* d)
    {
        float* lut = stackalloc float[16];
        var codes = NormalFloat4.Codes;
        fixed (byte* packed = Packed)
        {
            for (int b = b0; b < b1; b++)
            {
                // NF4[code] · absmax_b for the 16 codes: a float32 product, as bitsandbytes computes it.
                float absmax = BlockAbsmax(b);
                for (int c = 0; c < 16; c++) lut[c] = codes[c] * absmax;
                long i = Math.Max(from, (long)b * BlockSize), end = Math.Min(to, (long)(b + 1) * BlockSize);
                if ((i & 1) == 1) { d[i] = lut[packed[i >> 1] & 0xF]; i++; }
                for (; i + 1 < end; i += 2)
                {
                    byte pair = packed[i >> 1];
                    d[i] = lut[pair >> 4];
                    d[i + 1] = lut[pair & 0xF];
                }
                if (i < end) d[i] = lut[packed[i >> 1] >> 4];
            }
        }
    }
}
