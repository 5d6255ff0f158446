using LoRAM.Tensors.Cpu.Gemm;

namespace LoRAM.Tensors.Cpu;

// Matrix products: batching here (the shapes are checked once, in Backend.Gemm); the algorithms live in Cpu/Gemm/.
public sealed unsafe partial class CpuBackend
{
    protected override void GemmCore(GemmDims dims, Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta) =>
        Gemm(dims, a, transA, b, transB, c, alpha, beta, MicroKernels.Default);

    /// <summary><see cref="Gemm(Tensor, bool, Tensor, bool, Tensor, float, float)"/> with the packed path's
    /// micro-kernel named (tests run each one; benchmarks compare them).</summary>
    internal void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta, GemmKernel kernel) =>
        Gemm(GemmDims.Of(a, transA, b, transB, c), a, transA, b, transB, c, alpha, beta, kernel);

    private void Gemm(GemmDims dims, Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta, GemmKernel kernel)
    {
        if (!MicroKernels.IsSupported(kernel)) throw new PlatformNotSupportedException($"GEMM kernel {kernel} is not supported by this CPU");
        var (m, n, k, batch, broadcastB) = dims;
        if (m == 0 || n == 0) return;
        // Many small products (attention-sized, per head): one entry per thread beats splitting each entry.
        bool perEntry = Threads > 1 && batch > 1 && (long)m * n * k <= SmallProductMacs;
        var entries = new BatchEntries(Ptr<float>(a), Ptr<byte>(b), Ptr<float>(c), b.DType, m, n, k, transA, transB,
            broadcastB ? 0 : (long)k * n * b.DType.Size(), alpha, beta, kernel, perEntry ? 1 : Threads, Parallel);
        if (perEntry) Workers.For(checked((int)batch), Threads, Parallel, entries);
        else for (long i = 0; i < batch; i++) entries.Run(checked((int)i));
    }

    protected override void MultiLinearCore(MultiLinearDims dims, Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> outputs) =>
        MultiLinear(dims, x, weights, outputs, MicroKernels.Default);

    /// <summary><see cref="Backend.MultiLinear"/> at the vector width of <paramref name="kernel"/> (tests run each one).</summary>
    internal void MultiLinear(Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> outputs, GemmKernel kernel) =>
        MultiLinear(MultiLinearDims.Of(x, weights, outputs), x, weights, outputs, kernel);

    private void MultiLinear(MultiLinearDims dims, Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> outputs, GemmKernel kernel)
    {
        if (!MicroKernels.IsSupported(kernel)) throw new PlatformNotSupportedException($"GEMM kernel {kernel} is not supported by this CPU");
        var (m, k, n, _) = dims;
        if (m == 0) return;
        if (m > Gemv.MaxRows || k == 0)
        {
            // Prefill-sized products: each is a GEMM big enough to split on its own.
            for (int g = 0; g < n.Length; g++)
                Gemm(new GemmDims(m, n[g], k, 1, true), x, false, weights[g], true, outputs[g], 1f, 0f, kernel);
            return;
        }
        MatrixB B(int g) => g < n.Length ? new MatrixB(Ptr<byte>(weights[g]), dims.WeightType, k, n[g], trans: true) : new MatrixB(null, dims.WeightType, k, 0, trans: true);
        float* C(int g) => g < n.Length ? Ptr<float>(outputs[g]) : null;
        Gemv.RunShared(new MatrixA(Ptr<float>(x), m, k, false), new Gemv.SharedWeights(B(0), C(0), B(1), C(1), B(2), C(2)),
            kernel, Threads, Parallel);
    }

    /// <summary>Below this many multiply-adds per entry, batch entries run in parallel instead of each one.</summary>
    private const long SmallProductMacs = 1L << 21;

    /// <summary>Entry i of a batched product: picks the path for its shape and runs it on <c>Threads</c> threads.</summary>
    private readonly struct BatchEntries(float* A, byte* B, float* C, DType BType, int M, int N, int K, bool TransA, bool TransB,
        long StrideB, float Alpha, float Beta, GemmKernel Kernel, int Threads, ParallelOptions Parallel) : IWorkItem
    {
        public void Run(int i)
        {
            var ma = new MatrixA(A + (long)i * M * K, M, K, TransA);
            var mb = new MatrixB(B + i * StrideB, BType, K, N, TransB);
            float* ci = C + (long)i * M * N;
            if (K == 0 || Alpha == 0f) ScaleOnly(ci, (long)M * N, Beta);
            else if (M == 1) Gemv.Run(ma.P, mb, ci, Alpha, Beta, Kernel, Threads, Parallel);
            else if (M <= Gemv.MaxRows && !TransA && TransB) Gemv.RunRows(ma, mb, ci, Alpha, Beta, Kernel, Threads, Parallel);
            else if (K <= Gemv.SmallK) Gemv.SmallInner(ma, mb, ci, Alpha, Beta, Kernel, Threads, Parallel);
            else if (NarrowN.Applies(ma, mb, Kernel)) NarrowN.Run(ma, mb, ci, Alpha, Beta, Threads, Parallel);
            else PackedGemm.Run(ma, mb, ci, Alpha, Beta, Kernel, Threads, Parallel);
        }
    }

    /// <summary>C = beta·C when the product contributes nothing (k = 0 or alpha = 0); beta = 0 clears NaNs too.</summary>
    private static void ScaleOnly(float* c, long count, float beta)
    {
        var span = new Span<float>(c, checked((int)count));
        if (beta == 0f) span.Clear();
        else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(span, beta, span);
    }
}
