using LoRAM.Tensors.Cpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Row reductions against float64. Bound: |err| ≤ 1e-5 + 1e-5·|expected| (float32 sums of ≤ 1000 terms);
/// SumSquares accumulates in double: relative error ≤ 1e-12.</summary>
public class CpuReductionTests
{
    private readonly CpuBackend _cpu = new(2);

    [Theory]
    [InlineData(7, 37)]
    [InlineData(1, 1)]
    [InlineData(129, 1001)]
    public void Row_sum_matches_float64(int rows, int cols)
    {
        float[] x = RandomValues(rows * cols, 20, 2);
        using var tx = Tensor.FromArray(_cpu, x, rows, cols);
        using var y = Tensor.Empty(_cpu, rows);
        _cpu.RowSum(tx, y); AssertClose(RowSum(x, rows, cols), y.ToArray<float>(), 1e-5, 1e-5, "RowSum");
    }

    [Theory]
    [InlineData(37)]
    [InlineData(300_007)]
    public void SumSquares_accumulates_in_double(int n)
    {
        float[] x = RandomValues(n, 21, 1000);
        using var tx = Tensor.FromArray(_cpu, x, n);
        double expected = SumSquares(x), actual = _cpu.SumSquares(tx);
        Assert.True(Math.Abs(actual - expected) <= 1e-12 * expected, $"{actual:R} vs {expected:R}");
    }

    [Fact]
    public void SumSquares_reports_nan()
    {
        var x = RandomValues(100, 22);
        x[57] = float.NaN;
        using var tx = Tensor.FromArray(_cpu, x, 100);
        Assert.True(double.IsNaN(_cpu.SumSquares(tx)));
    }
}
