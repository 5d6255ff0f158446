using LoRAM.Tensors.Cpu.Gemm;

namespace LoRAM.Tensors.Cpu;

// NF4 products: the packed GEMM with NF4 panels decoded while packing (Cpu/Gemm/Nf4Dequant.cs), or for m ≤ 4 the
// decode path (Cpu/Gemm/Nf4Gemv.cs). Either way W is read in its 4-bit form, a panel or a row at a time.
public sealed unsafe partial class CpuBackend
{
    public override void Nf4Gemm(Tensor a, Nf4Matrix w, bool transW, Tensor c, float alpha = 1f, float beta = 0f) =>
        Nf4Gemm(a, w, transW, c, alpha, beta, MicroKernels.Default);

    /// <summary><see cref="Nf4Gemm(Tensor, Nf4Matrix, bool, Tensor, float, float)"/> with the kernel named (tests run each).</summary>
    internal void Nf4Gemm(Tensor a, Nf4Matrix w, bool transW, Tensor c, float alpha, float beta, GemmKernel kernel)
    {
        var (m, n, k) = Nf4GemmShape(a, w, transW, c);
        if (!MicroKernels.IsSupported(kernel)) throw new PlatformNotSupportedException($"GEMM kernel {kernel} is not supported by this CPU");
        if (m == 0 || n == 0) return;
        float* pc = Ptr<float>(c);
        if (k == 0 || alpha == 0f) { ScaleOnly(pc, (long)m * n, beta); return; }
        var ma = new MatrixA(Ptr<float>(a), m, k, false);
        var mb = new MatrixB(Ptr<byte>(w.Codes), DType.U8, k, n, transW, Ptr<float>(w.Absmax));
        if (m <= Nf4Gemv.MaxRows) Nf4Gemv.Run(ma, mb, pc, alpha, beta, kernel, Threads, Parallel);
        else PackedGemm.Run(ma, mb, pc, alpha, beta, kernel, Threads, Parallel);
    }
}
