using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>The ILGPU NF4 GEMM (each thread decodes the codes it loads) on the CPU accelerator against float64 with
/// the dequantized matrix and against the SIMD CPU NF4 GEMM. Same bound as <see cref="CpuNf4GemmTests"/>. Sizes are
/// small: the accelerator emulates each GPU thread.</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuNf4GemmTests(IlgpuFixture f)
{
    [Theory]
    [InlineData(37, 128, 67, true)]    // tiled: partial 64×64 tiles in m and out
    [InlineData(37, 128, 67, false)]   // tiled, dx = dy·Ŵ
    [InlineData(3, 192, 45, true)]     // decode kernel
    [InlineData(2, 64, 33, false)]     // few rows, not transposed: tiled
    // in not a multiple of 64: blocks straddle rows of W (688 = the shipped down_proj; 33 odd with out odd: odd count)
    [InlineData(37, 688, 67, true)]
    [InlineData(37, 100, 33, false)]
    [InlineData(3, 100, 45, true)]
    [InlineData(3, 33, 45, true)]
    [InlineData(5, 33, 67, false)]
    public void Nf4_product_matches_float64_and_the_cpu_backend(int m, int inF, int outF, bool transW)
    {
        var w = new Nf4Reference(outF, inF, seed: m + inF + outF);
        int k = transW ? inF : outF, n = transW ? outF : inF;
        float[] a = RandomValues(m * k, 41), c0 = RandomValues(m * n, 42);
        var gpuW = w.Upload(f.Gpu);
        var cpuW = w.Upload(f.Cpu);
        try
        {
            using var ta = f.Up(a, m, k);
            using var tc = f.Up(c0, m, n);
            f.Gpu.Nf4Gemm(ta, gpuW, transW, tc, 0.75f, 0.5f);
            var got = tc.ToArray<float>();
            var (rel, abs) = Nf4Reference.Bound(k);
            AssertClose(w.Product(a, m, transW, c0, 0.75, 0.5), got, rel, abs, "ilgpu vs float64");

            using var ca = f.UpCpu(a, m, k);
            using var cc = f.UpCpu(c0, m, n);
            f.Cpu.Nf4Gemm(ca, cpuW, transW, cc, 0.75f, 0.5f);
            AssertClose(cc.ToArray<float>(), got, rel, abs, "ilgpu vs cpu");
        }
        finally
        {
            Nf4Reference.Free(gpuW);
            Nf4Reference.Free(cpuW);
        }
    }
}
