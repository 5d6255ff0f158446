namespace LoRAM.Tensors.Cpu;

// Placeholder until the kernels of this family land.
public sealed partial class CpuBackend
{
    public override void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta) => throw new NotImplementedException("Gemm");
}
