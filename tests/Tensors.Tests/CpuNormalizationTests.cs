using LoRAM.Tensors.Cpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Softmax and RMSNorm, forward and backward, against float64. Bound: |err| ≤ 1e-6 + 1e-5·|expected|.</summary>
public class CpuNormalizationTests
{
    private const double Rel = 1e-5, Abs = 1e-6;
    private readonly CpuBackend _cpu = new(2);

    public static TheoryData<int, int> Shapes => new() { { 7, 37 }, { 3, 1 }, { 67, 1003 } };

    [Theory, MemberData(nameof(Shapes))]
    public void Softmax_and_its_backward_match_float64(int rows, int cols)
    {
        float[] x = RandomValues(rows * cols, 30, 20), dy = RandomValues(rows * cols, 31);
        using var tx = Tensor.FromArray(_cpu, x, rows, cols);
        using var y = Tensor.Empty(_cpu, rows, cols);
        _cpu.Softmax(tx, y);
        var yv = y.ToArray<float>();
        AssertClose(Softmax(x, rows, cols), yv, Rel, Abs, "Softmax");
        using var tdy = Tensor.FromArray(_cpu, dy, rows, cols);
        using var dx = Tensor.Empty(_cpu, rows, cols);
        _cpu.SoftmaxBackward(y, tdy, dx);
        AssertClose(SoftmaxBackward(yv, dy, rows, cols), dx.ToArray<float>(), Rel, Abs, "SoftmaxBackward");
        _cpu.SoftmaxBackward(y, tdy, tdy);   // dx may alias dy
        AssertClose(SoftmaxBackward(yv, dy, rows, cols), tdy.ToArray<float>(), Rel, Abs, "SoftmaxBackward in place");
    }

    [Fact]
    public void Softmax_is_stable_for_large_logits()
    {
        float[] x = [1000f, 999f, -1000f, 80f, 1000f];
        using var tx = Tensor.FromArray(_cpu, x, 1, 5);
        _cpu.Softmax(tx, tx);
        AssertClose(Softmax(x, 1, 5), tx.ToArray<float>(), Rel, Abs, "Softmax of large logits");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void RmsNorm_matches_float64(int rows, int d)
    {
        float[] x = RandomValues(rows * d, 32, 3), w = RandomValues(d, 33, 2);
        using var tx = Tensor.FromArray(_cpu, x, rows, d);
        using var tw = Tensor.FromArray(_cpu, w, d);
        using var y = Tensor.Empty(_cpu, rows, d);
        using var rstd = Tensor.Empty(_cpu, rows);
        _cpu.RmsNorm(tx, tw, 1e-5f, y, rstd);
        var (ey, erstd) = RmsNorm(x, w, 1e-5, rows, d);
        AssertClose(ey, y.ToArray<float>(), Rel, Abs, "RmsNorm y");
        AssertClose(erstd, rstd.ToArray<float>(), Rel, Abs, "RmsNorm rstd");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void RmsNorm_backward_matches_float64_and_accumulates_dweight(int rows, int d)
    {
        float[] x = RandomValues(rows * d, 34, 3), w = RandomValues(d, 35, 2), dy = RandomValues(rows * d, 36);
        float[] dw0 = RandomValues(d, 37);
        using var tx = Tensor.FromArray(_cpu, x, rows, d);
        using var tw = Tensor.FromArray(_cpu, w, d);
        using var tdy = Tensor.FromArray(_cpu, dy, rows, d);
        using var y = Tensor.Empty(_cpu, rows, d);
        using var rstd = Tensor.Empty(_cpu, rows);
        using var dx = Tensor.Empty(_cpu, rows, d);
        using var dw = Tensor.FromArray(_cpu, dw0, d);
        _cpu.RmsNorm(tx, tw, 1e-5f, y, rstd);
        _cpu.RmsNormBackward(tx, tw, rstd, tdy, dx, dw);
        var (edx, edw) = RmsNormBackward(x, w, 1e-5, dy, rows, d);
        AssertClose(edx, dx.ToArray<float>(), 1e-4, 1e-5, "RmsNorm dx");
        AssertClose(edw.Select((v, i) => v + dw0[i]).ToArray(), dw.ToArray<float>(), 1e-4, 1e-4, "RmsNorm dweight");
        _cpu.RmsNormBackward(tx, tw, rstd, tdy, dx, null);   // dweight is optional
        AssertClose(edx, dx.ToArray<float>(), 1e-4, 1e-5, "RmsNorm dx without dweight");
    }

    [Fact]
    public void RmsNorm_reference_backward_agrees_with_finite_differences()
    {
        const int rows = 3, d = 5;
        float[] x = RandomValues(rows * d, 38), w = RandomValues(d, 39), dy = RandomValues(rows * d, 40);
        var (dx, dw) = RmsNormBackward(x, w, 1e-5, dy, rows, d);
        double Loss(float[] xs, float[] ws) => RmsNorm(xs, ws, 1e-5, rows, d).y.Select((v, i) => v * dy[i]).Sum();
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(dx[i], CentralDifference(x, i, v => Loss(v, w)), 3);
        for (int i = 0; i < d; i++)
            Assert.Equal(dw[i], CentralDifference(w, i, v => Loss(x, v)), 3);
    }

    /// <summary>(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h with h = 1e-3 on float inputs.</summary>
    internal static double CentralDifference(float[] x, int i, Func<float[], double> f)
    {
        const float h = 1e-3f;
        var plus = (float[])x.Clone();
        var minus = (float[])x.Clone();
        plus[i] += h;
        minus[i] -= h;
        return (f(plus) - f(minus)) / ((double)plus[i] - minus[i]);
    }
}
