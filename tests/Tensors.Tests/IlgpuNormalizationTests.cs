using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Softmax and RMSNorm (forward, backward, accumulated dweight) against float64 and the CPU backend.
/// Bound: |err| ≤ 1e-5 + 1e-4·|expected| (exp and float32 row sums of a few hundred terms).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuNormalizationTests(IlgpuFixture f)
{
    private const double Rel = 1e-4, Abs = 1e-5;

    [Theory]
    [InlineData(7, 37)]
    [InlineData(3, 1)]
    [InlineData(11, 300)]
    public void Softmax_and_its_backward_match_float64(int rows, int cols)
    {
        float[] x = RandomValues(rows * cols, 40, 6), dy = RandomValues(rows * cols, 41);
        using var tx = f.Up(x, rows, cols);
        using var tdy = f.Up(dy, rows, cols);
        using var y = Tensor.Empty(f.Gpu, rows, cols);
        using var dx = Tensor.Empty(f.Gpu, rows, cols);
        f.Gpu.Softmax(tx, y);
        var ey = y.ToArray<float>();
        AssertClose(Softmax(x, rows, cols), ey, Rel, Abs, "Softmax");
        f.Gpu.SoftmaxBackward(y, tdy, dx);
        AssertClose(SoftmaxBackward(ey, dy, rows, cols), dx.ToArray<float>(), Rel, Abs, "SoftmaxBackward");
        f.Gpu.Softmax(tx, tx);   // in place
        AssertClose(ey, tx.ToArray<float>(), 0, 0, "Softmax in place");
    }

    [Theory]
    [InlineData(5, 37)]
    [InlineData(131, 64)]
    public void RmsNorm_forward_backward_and_accumulated_dweight_match_float64(int rows, int d)
    {
        const float eps = 1e-5f;
        float[] x = RandomValues(rows * d, 42, 2), w = RandomValues(d, 43, 1.5), dy = RandomValues(rows * d, 44), dw0 = RandomValues(d, 45);
        using var tx = f.Up(x, rows, d);
        using var tw = f.Up(w, d);
        using var tdy = f.Up(dy, rows, d);
        using var y = Tensor.Empty(f.Gpu, rows, d);
        using var rstd = Tensor.Empty(f.Gpu, rows);
        using var dx = Tensor.Empty(f.Gpu, rows, d);
        using var dw = f.Up(dw0, d);
        f.Gpu.RmsNorm(tx, tw, eps, y, rstd);
        var (ey, erstd) = RmsNorm(x, w, eps, rows, d);
        AssertClose(ey, y.ToArray<float>(), Rel, Abs, "y");
        AssertClose(erstd, rstd.ToArray<float>(), Rel, Abs, "rstd");
        f.Gpu.RmsNormBackward(tx, tw, rstd, tdy, dx, dw);
        var (edx, edw) = RmsNormBackward(x, w, eps, dy, rows, d);
        AssertClose(edx, dx.ToArray<float>(), Rel, Abs, "dx");
        AssertClose(edw.Select((v, i) => v + dw0[i]).ToArray(), dw.ToArray<float>(), Rel, 1e-4, "dweight accumulates");

        using var dx2 = Tensor.Empty(f.Gpu, rows, d);
        f.Gpu.RmsNormBackward(tx, tw, rstd, tdy, dx2, null);   // dweight is optional
        Assert.Equal(dx.ToArray<float>(), dx2.ToArray<float>());
    }

    [Fact]
    public void RmsNorm_matches_the_cpu_backend()
    {
        const int rows = 9, d = 45;
        float[] x = RandomValues(rows * d, 46, 2), w = RandomValues(d, 47);
        using var gy = Tensor.Empty(f.Gpu, rows, d);
        using var gr = Tensor.Empty(f.Gpu, rows);
        using var gx = f.Up(x, rows, d);
        using var gw = f.Up(w, d);
        f.Gpu.RmsNorm(gx, gw, 1e-6f, gy, gr);
        using var cy = Tensor.Empty(f.Cpu, rows, d);
        using var cr = Tensor.Empty(f.Cpu, rows);
        using var cx = f.UpCpu(x, rows, d);
        using var cw = f.UpCpu(w, d);
        f.Cpu.RmsNorm(cx, cw, 1e-6f, cy, cr);
        AssertClose(cy.ToArray<float>(), gy.ToArray<float>(), Rel, Abs, "y vs cpu");
    }
}
