using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// Runs of an NF4 matrix decoded to float32 (packing's and the decode path's inner step):
/// ŵ_i = NF4[code_i] · absmax_{i/64}, where code_i is the high nibble of byte i/2 for even i, the low for odd i.
/// Per block the 16 products NF4[c]·absmax are formed once (the same float32 product bitsandbytes computes, so the
/// result is bit-identical to a host dequantization) and the codes index that table: with AVX-512 the table is one
/// register and 16 codes are looked up by one vpermps; with AVX2 it is two registers and a blend.
/// </summary>
internal static unsafe class Nf4Dequant
{
    internal static readonly float[] s_levels = Nf4Matrix.Levels.ToArray();

    /// <summary>dst[0..count) = ŵ[flat .. flat + count) of the matrix with packed codes <paramref name="codes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(byte* codes, float* absmax, long flat, float* dst, int count, GemmKernel isa)
    {
        long end = flat + count;
        fixed (float* levels = s_levels)
        {
            float* lut = stackalloc float[16];
            while (flat < end)
            {
                long block = flat / Nf4Matrix.BlockSize, blockEnd = Math.Min(end, (block + 1) * Nf4Matrix.BlockSize);
                float scale = absmax[block];
                if ((flat & 1) != 0) { *dst++ = levels[codes[flat >> 1] & 0xF] * scale; flat++; }
                if (isa == GemmKernel.Avx512)
                {
                    var table = Avx512F.Multiply(Avx512F.LoadVector512(levels), Vector512.Create(scale));
                    for (; flat + 32 <= blockEnd; flat += 32, dst += 32)
                    {
                        var (first, second) = Nibbles(Sse2.LoadVector128(codes + (flat >> 1)));
                        Avx512F.Store(dst, Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(first)));
                        Avx512F.Store(dst + 16, Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(second)));
                    }
                }
                else if (isa == GemmKernel.Avx2)
                {
                    var low = Avx.Multiply(Avx.LoadVector256(levels), Vector256.Create(scale));
                    var high = Avx.Multiply(Avx.LoadVector256(levels + 8), Vector256.Create(scale));
                    for (; flat + 16 <= blockEnd; flat += 16, dst += 16)
                    {
                        var (first, _) = Nibbles(Sse2.LoadScalarVector128((ulong*)(codes + (flat >> 1))).AsByte());
                        Avx.Store(dst, Lookup8(low, high, Avx2.ConvertToVector256Int32(first)));
                        Avx.Store(dst + 8, Lookup8(low, high, Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(first, 8))));
                    }
                }
                if (flat == blockEnd) continue;
                for (int c = 0; c < 16; c++) lut[c] = levels[c] * scale;
                for (; flat + 1 < blockEnd; flat += 2, dst += 2)
                {
                    byte pair = codes[flat >> 1];
                    dst[0] = lut[pair >> 4];
                    dst[1] = lut[pair & 0xF];
                }
                if (flat < blockEnd) { *dst++ = lut[codes[flat >> 1] >> 4]; flat++; }
            }
        }
    }

    /// <summary>16 packed bytes → 32 code indices in element order: (hi₀, lo₀, hi₁, lo₁, ...) as two vectors of 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<byte> First, Vector128<byte> Second) Nibbles(Vector128<byte> packed)
    {
        var mask = Vector128.Create((byte)0xF);
        var hi = Sse2.And(Sse2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte(), mask);
        var lo = Sse2.And(packed, mask);
        return (Sse2.UnpackLow(hi, lo), Sse2.UnpackHigh(hi, lo));
    }

    /// <summary>table[idx] for a 16-entry table held as two 8-lane halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lookup8(Vector256<float> low, Vector256<float> high, Vector256<int> idx) =>
        Avx.BlendVariable(Avx2.PermuteVar8x32(low, idx), Avx2.PermuteVar8x32(high, idx),
            Avx2.CompareGreaterThan(idx, Vector256.Create(7)).AsSingle());
}
