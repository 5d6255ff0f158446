using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Rotate-half RoPE against float64 and the CPU backend; the inverse undoes the rotation.
/// Bound: |err| ≤ 1e-6 + 1e-5·|expected| (two products and a sum in float32).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuRopeTests(IlgpuFixture f)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rope_matches_float64_and_the_cpu_backend(bool inverse)
    {
        const int tokens = 7, heads = 3, headDim = 18, maxPos = 40;
        var (cos, sin) = RopeTables(maxPos, headDim);
        int[] positions = [0, 5, 39, 2, 2, 17, 8];
        float[] x = RandomValues(tokens * heads * headDim, 50, 2);
        using var tx = f.Up(x, tokens, heads, headDim);
        using var tc = f.Up(cos, maxPos, headDim / 2);
        using var ts = f.Up(sin, maxPos, headDim / 2);
        using var tp = f.Up(positions, tokens);
        using var y = Tensor.Empty(f.Gpu, tokens, heads, headDim);
        f.Gpu.Rope(tx, tc, ts, tp, inverse, y);
        AssertClose(Rope(x, cos, sin, positions, tokens, heads, headDim, inverse), y.ToArray<float>(), 1e-5, 1e-6, "Rope");

        using var cx = f.UpCpu(x, tokens, heads, headDim);
        using var cc = f.UpCpu(cos, maxPos, headDim / 2);
        using var cs = f.UpCpu(sin, maxPos, headDim / 2);
        using var cp = f.UpCpu(positions, tokens);
        using var cy = Tensor.Empty(f.Cpu, tokens, heads, headDim);
        f.Cpu.Rope(cx, cc, cs, cp, inverse, cy);
        AssertClose(cy.ToArray<float>(), y.ToArray<float>(), 1e-5, 1e-6, "Rope vs cpu");

        f.Gpu.Rope(y, tc, ts, tp, !inverse, y);   // in place, and back
        AssertClose(x, y.ToArray<float>(), 1e-5, 1e-5, "inverse undoes the rotation");
    }
}
