using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Row reductions (one group per row) and the global sum of squares against float64.
/// Bound: |err| ≤ 1e-5 + 1e-5·|expected| (float32 sums of a few hundred terms; SumSquares accumulates in double: 1e-12).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuReductionTests(IlgpuFixture f)
{
    [Theory]
    [InlineData(7, 37)]
    [InlineData(1, 1)]
    [InlineData(13, 301)]
    public void Row_sum_matches_float64(int rows, int cols)
    {
        float[] x = RandomValues(rows * cols, 30, 3);
        using var t = f.Up(x, rows, cols);
        using var y = Tensor.Empty(f.Gpu, rows);
        f.Gpu.RowSum(t, y); AssertClose(RowSum(x, rows, cols), y.ToArray<float>(), 1e-5, 1e-5, "RowSum");
    }

    [Fact]
    public void Sum_of_squares_accumulates_in_double()
    {
        float[] x = RandomValues(100_003, 31, 5);
        using var t = f.Up(x, x.Length);
        double expected = SumSquares(x);
        Assert.True(Math.Abs(f.Gpu.SumSquares(t) - expected) <= 1e-12 * expected, "SumSquares");
        using var c = f.UpCpu(x, x.Length);
        Assert.True(Math.Abs(f.Cpu.SumSquares(c) - f.Gpu.SumSquares(t)) <= 1e-12 * expected, "SumSquares vs cpu");
    }

    [Fact]
    public void Sum_of_squares_sees_a_NaN()
    {
        float[] x = RandomValues(1000, 32);
        x[777] = float.NaN;
        using var t = f.Up(x, x.Length);
        Assert.True(double.IsNaN(f.Gpu.SumSquares(t)));
    }
}
