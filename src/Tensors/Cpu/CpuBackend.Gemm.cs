using LoRAM.Tensors.Cpu.Gemm;

namespace LoRAM.Tensors.Cpu;

// Matrix products: shape checks and batching here; the algorithms live in Cpu/Gemm/.
public sealed unsafe partial class CpuBackend
{
    public override void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f) =>
        Gemm(a, transA, b, transB, c, alpha, beta, MicroKernels.Default);

    /// <summary><see cref="Gemm(Tensor, bool, Tensor, bool, Tensor, float, float)"/> with the packed path's
    /// micro-kernel named (tests run each one; benchmarks compare them).</summary>
    internal void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta, GemmKernel kernel)
    {
        if (a.DType != DType.F32 || c.DType != DType.F32) throw new ArgumentException($"Gemm: A and C must be F32 (got {a.DType}, {c.DType})");
        if (b.DType is not (DType.F32 or DType.BF16 or DType.F16)) throw new ArgumentException($"Gemm: B must be F32, BF16 or F16 (got {b.DType})");
        if (a.Rank < 2 || b.Rank < 2 || c.Rank < 2) throw new ArgumentException($"Gemm: operands must have rank ≥ 2 ({a}, {b}, {c})");
        if (!MicroKernels.IsSupported(kernel)) throw new PlatformNotSupportedException($"GEMM kernel {kernel} is not supported by this CPU");

        int m = transA ? a.Dim(-1) : a.Dim(-2), k = transA ? a.Dim(-2) : a.Dim(-1);
        int kb = transB ? b.Dim(-1) : b.Dim(-2), n = transB ? b.Dim(-2) : b.Dim(-1);
        long batch = Batch(a), batchB = Batch(b);
        if (kb != k || c.Dim(-2) != m || c.Dim(-1) != n || Batch(c) != batch || (batchB != batch && batchB != 1))
            throw new ArgumentException($"Gemm: shapes do not agree: A{Shape(a)}{(transA ? "ᵀ" : "")} · B{Shape(b)}{(transB ? "ᵀ" : "")} → C{Shape(c)}");

        float* pa = Ptr<float>(a), pc = Ptr<float>(c);
        byte* pb = Ptr<byte>(b);
        long strideA = (long)m * k, strideB = batchB == 1 ? 0 : (long)k * n * b.DType.Size(), strideC = (long)m * n;
        for (long i = 0; i < batch; i++)
        {
            var ma = new MatrixA(pa + i * strideA, m, k, transA);
            var mb = new MatrixB(pb + i * strideB, b.DType, k, n, transB);
            float* ci = pc + i * strideC;
            if (m == 0 || n == 0) continue;
            if (k == 0 || alpha == 0f) ScaleOnly(ci, (long)m * n, beta);
            else if (m == 1) Gemv.Run(ma.P, mb, ci, alpha, beta, kernel, Threads, Parallel);
            else if (m <= Gemv.MaxRows && !transA && transB) Gemv.RunRows(ma, mb, ci, alpha, beta, kernel, Threads, Parallel);
            else if (k <= Gemv.SmallK) Gemv.SmallInner(ma, mb, ci, alpha, beta, kernel, Threads, Parallel);
            else PackedGemm.Run(ma, mb, ci, alpha, beta, kernel, Threads, Parallel);
        }
    }

    /// <summary>C = beta·C when the product contributes nothing (k = 0 or alpha = 0); beta = 0 clears NaNs too.</summary>
    private static void ScaleOnly(float* c, long count, float beta)
    {
        var span = new Span<float>(c, checked((int)count));
        if (beta == 0f) span.Clear();
        else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(span, beta, span);
    }

    private static long Batch(Tensor t)
    {
        long p = 1;
        for (int i = 0; i < t.Rank - 2; i++) p *= t.Dim(i);
        return p;
    }

    private static string Shape(Tensor t) => $"[{string.Join(", ", t.ShapeArray())}]";
}
