using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>The register-blocked inner loops of the packed GEMM, one per instruction set.</summary>
internal enum GemmKernel { Scalar, Avx2, Avx512 }

/// <summary>
/// Micro-kernels: C[MR×NR] = alpha · Σ_p Â[p, 0..MR) ⊗ B̂[p, 0..NR) + beta · C over packed panels Â (MR floats per
/// k) and B̂ (NR floats per k). The MR×NR accumulator tile lives in registers for the whole k loop, so each k step
/// costs MR broadcasts, NR/lanes loads and MR·NR/lanes FMAs: AVX-512 12×32 keeps 24 zmm accumulators (of 32),
/// AVX2 6×16 keeps 12 ymm (of 16). beta = 0 stores without reading C, so NaNs there are ignored.
/// </summary>
/// <remarks>.NET 10 reports <c>Vector512.IsHardwareAccelerated</c> false on CPUs where it prefers 256-bit code
/// (unless DOTNET_PreferredVectorBitWidth=512), but the Avx512F intrinsics used here are emitted regardless, so
/// the choice checks <c>Avx512F.IsSupported</c> directly.</remarks>
internal static unsafe class MicroKernels
{
    /// <summary>The kernel used when the caller does not name one: LORAM_GEMM_KERNEL=avx512|avx2|scalar, else the
    /// widest the CPU supports (measured fastest on the AVX-512 machines we have; see bench/RESULTS.md).</summary>
    public static readonly GemmKernel Default = Choose(Environment.GetEnvironmentVariable("LORAM_GEMM_KERNEL"));

    public static bool IsSupported(GemmKernel kernel) => kernel switch
    {
        GemmKernel.Avx512 => Avx512F.IsSupported,
        GemmKernel.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        _ => true,
    };

    public static GemmKernel Choose(string? name)
    {
        var best = IsSupported(GemmKernel.Avx512) ? GemmKernel.Avx512 : IsSupported(GemmKernel.Avx2) ? GemmKernel.Avx2 : GemmKernel.Scalar;
        if (string.IsNullOrWhiteSpace(name)) return best;
        var asked = name.Trim().ToLowerInvariant() switch
        {
            "avx512" => GemmKernel.Avx512,
            "avx2" => GemmKernel.Avx2,
            "scalar" => GemmKernel.Scalar,
            _ => throw new ArgumentException($"LORAM_GEMM_KERNEL={name}: expected avx512, avx2 or scalar"),
        };
        if (!IsSupported(asked)) throw new PlatformNotSupportedException($"GEMM kernel {asked} is not supported by this CPU");
        return asked;
    }

    public static int Mr(GemmKernel kernel) => kernel switch { GemmKernel.Avx512 => 12, GemmKernel.Avx2 => 6, _ => 4 };
    public static int Nr(GemmKernel kernel) => kernel switch { GemmKernel.Avx512 => 32, GemmKernel.Avx2 => 16, _ => 4 };

    /// <summary>Runs the kernel on one full MR×NR tile of C with row stride <paramref name="ldc"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run(GemmKernel kernel, int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta)
    {
        switch (kernel)
        {
            case GemmKernel.Avx512: Avx512_12x32(kc, a, b, c, ldc, alpha, beta); break;
            case GemmKernel.Avx2: Avx2_6x16(kc, a, b, c, ldc, alpha, beta); break;
            default: Scalar_4x4(kc, a, b, c, ldc, alpha, beta); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Avx512_12x32(int kc, float* ap, float* bp, float* c, nint ldc, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default;
        Vector512<float> c100 = default, c101 = default;
        Vector512<float> c110 = default, c111 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Avx512F.LoadVector512(bp);
            var b1 = Avx512F.LoadVector512(bp + 16);
            Vector512<float> a;
            a = Vector512.Create(ap[0]); c00 = Avx512F.FusedMultiplyAdd(a, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a, b1, c01);
            a = Vector512.Create(ap[1]); c10 = Avx512F.FusedMultiplyAdd(a, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a, b1, c11);
            a = Vector512.Create(ap[2]); c20 = Avx512F.FusedMultiplyAdd(a, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a, b1, c21);
            a = Vector512.Create(ap[3]); c30 = Avx512F.FusedMultiplyAdd(a, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a, b1, c31);
            a = Vector512.Create(ap[4]); c40 = Avx512F.FusedMultiplyAdd(a, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a, b1, c41);
            a = Vector512.Create(ap[5]); c50 = Avx512F.FusedMultiplyAdd(a, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a, b1, c51);
            a = Vector512.Create(ap[6]); c60 = Avx512F.FusedMultiplyAdd(a, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a, b1, c61);
            a = Vector512.Create(ap[7]); c70 = Avx512F.FusedMultiplyAdd(a, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a, b1, c71);
            a = Vector512.Create(ap[8]); c80 = Avx512F.FusedMultiplyAdd(a, b0, c80); c81 = Avx512F.FusedMultiplyAdd(a, b1, c81);
            a = Vector512.Create(ap[9]); c90 = Avx512F.FusedMultiplyAdd(a, b0, c90); c91 = Avx512F.FusedMultiplyAdd(a, b1, c91);
            a = Vector512.Create(ap[10]); c100 = Avx512F.FusedMultiplyAdd(a, b0, c100); c101 = Avx512F.FusedMultiplyAdd(a, b1, c101);
            a = Vector512.Create(ap[11]); c110 = Avx512F.FusedMultiplyAdd(a, b0, c110); c111 = Avx512F.FusedMultiplyAdd(a, b1, c111);
            ap += 12;
            bp += 32;
        }
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        Store512(c + 0 * ldc, c00, c01, va, vb, beta);
        Store512(c + 1 * ldc, c10, c11, va, vb, beta);
        Store512(c + 2 * ldc, c20, c21, va, vb, beta);
        Store512(c + 3 * ldc, c30, c31, va, vb, beta);
        Store512(c + 4 * ldc, c40, c41, va, vb, beta);
        Store512(c + 5 * ldc, c50, c51, va, vb, beta);
        Store512(c + 6 * ldc, c60, c61, va, vb, beta);
        Store512(c + 7 * ldc, c70, c71, va, vb, beta);
        Store512(c + 8 * ldc, c80, c81, va, vb, beta);
        Store512(c + 9 * ldc, c90, c91, va, vb, beta);
        Store512(c + 10 * ldc, c100, c101, va, vb, beta);
        Store512(c + 11 * ldc, c110, c111, va, vb, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* row, Vector512<float> x0, Vector512<float> x1, Vector512<float> va, Vector512<float> vb, float beta)
    {
        if (beta == 0f)
        {
            Avx512F.Store(row, Avx512F.Multiply(va, x0));
            Avx512F.Store(row + 16, Avx512F.Multiply(va, x1));
        }
        else
        {
            Avx512F.Store(row, Avx512F.FusedMultiplyAdd(va, x0, Avx512F.Multiply(vb, Avx512F.LoadVector512(row))));
            Avx512F.Store(row + 16, Avx512F.FusedMultiplyAdd(va, x1, Avx512F.Multiply(vb, Avx512F.LoadVector512(row + 16))));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Avx2_6x16(int kc, float* ap, float* bp, float* c, nint ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default;
        Vector256<float> c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default;
        Vector256<float> c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Avx.LoadVector256(bp);
            var b1 = Avx.LoadVector256(bp + 8);
            Vector256<float> a;
            a = Avx.BroadcastScalarToVector256(ap + 0); c00 = Fma.MultiplyAdd(a, b0, c00); c01 = Fma.MultiplyAdd(a, b1, c01);
            a = Avx.BroadcastScalarToVector256(ap + 1); c10 = Fma.MultiplyAdd(a, b0, c10); c11 = Fma.MultiplyAdd(a, b1, c11);
            a = Avx.BroadcastScalarToVector256(ap + 2); c20 = Fma.MultiplyAdd(a, b0, c20); c21 = Fma.MultiplyAdd(a, b1, c21);
            a = Avx.BroadcastScalarToVector256(ap + 3); c30 = Fma.MultiplyAdd(a, b0, c30); c31 = Fma.MultiplyAdd(a, b1, c31);
            a = Avx.BroadcastScalarToVector256(ap + 4); c40 = Fma.MultiplyAdd(a, b0, c40); c41 = Fma.MultiplyAdd(a, b1, c41);
            a = Avx.BroadcastScalarToVector256(ap + 5); c50 = Fma.MultiplyAdd(a, b0, c50); c51 = Fma.MultiplyAdd(a, b1, c51);
            ap += 6;
            bp += 16;
        }
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        Store256(c + 0 * ldc, c00, c01, va, vb, beta);
        Store256(c + 1 * ldc, c10, c11, va, vb, beta);
        Store256(c + 2 * ldc, c20, c21, va, vb, beta);
        Store256(c + 3 * ldc, c30, c31, va, vb, beta);
        Store256(c + 4 * ldc, c40, c41, va, vb, beta);
        Store256(c + 5 * ldc, c50, c51, va, vb, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* row, Vector256<float> x0, Vector256<float> x1, Vector256<float> va, Vector256<float> vb, float beta)
    {
        if (beta == 0f)
        {
            Avx.Store(row, Avx.Multiply(va, x0));
            Avx.Store(row + 8, Avx.Multiply(va, x1));
        }
        else
        {
            Avx.Store(row, Fma.MultiplyAdd(va, x0, Avx.Multiply(vb, Avx.LoadVector256(row))));
            Avx.Store(row + 8, Fma.MultiplyAdd(va, x1, Avx.Multiply(vb, Avx.LoadVector256(row + 8))));
        }
    }

    /// <summary>Portable fallback; also the reference the vector kernels are tested against.</summary>
    private static void Scalar_4x4(int kc, float* ap, float* bp, float* c, nint ldc, float alpha, float beta)
    {
        float* acc = stackalloc float[16];
        for (int i = 0; i < 16; i++) acc[i] = 0f;
        for (int p = 0; p < kc; p++, ap += 4, bp += 4)
            for (int i = 0; i < 4; i++)
            {
                float ai = ap[i];
                for (int j = 0; j < 4; j++) acc[i * 4 + j] = MathF.FusedMultiplyAdd(ai, bp[j], acc[i * 4 + j]);
            }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                c[i * ldc + j] = beta == 0f ? alpha * acc[i * 4 + j] : alpha * acc[i * 4 + j] + beta * c[i * ldc + j];
    }
}
