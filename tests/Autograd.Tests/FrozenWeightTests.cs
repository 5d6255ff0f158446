using LoRAM.Tensors;
using static LoRAM.Autograd.Tests.GradCheck;

namespace LoRAM.Autograd.Tests;

/// <summary>A dense frozen weight multiplies in its stored dtype exactly as float64 math on the dequantised values.
/// Bound: relative error 1e-5 (float32 accumulation over 24 terms).</summary>
public class FrozenWeightTests
{
    [Theory]
    [InlineData("reference", DType.F32)]
    [InlineData("reference", DType.BF16)]
    [InlineData("reference", DType.F16)]
    [InlineData("cpu", DType.F32)]
    [InlineData("cpu", DType.BF16)]
    [InlineData("cpu", DType.F16)]
    public void Forward_and_input_gradient_read_the_stored_dtype(string backend, DType dtype)
    {
        using var be = TestBackends.Create(backend);
        var rng = new Random(8);
        const int n = 3, inF = 24, outF = 5;
        using var w32 = Rand(be, rng, outF, inF);
        using var w = new DenseFrozenWeight(w32.Cast(dtype));
        var wq = w.Weight.ToFloatArray();                       // the values actually stored
        var x = Uniform(rng, n * inF); var dy = Uniform(rng, n * outF);
        using var xt = Tensor.FromArray(be, x, n, inF);
        using var dyt = Tensor.FromArray(be, dy, n, outF);
        using var y = Tensor.Empty(be, n, outF);
        using var dx = Tensor.Empty(be, n, inF);
        w.Forward(xt, y);
        w.BackwardInput(dyt, dx);
        var yRef = new float[n * outF]; var dxRef = new float[n * inF];
        for (int i = 0; i < n; i++)
        {
            for (int o = 0; o < outF; o++) yRef[i * outF + o] = (float)Enumerable.Range(0, inF).Sum(k => (double)x[i * inF + k] * wq[o * inF + k]);
            for (int k = 0; k < inF; k++) dxRef[i * inF + k] = (float)Enumerable.Range(0, outF).Sum(o => (double)dy[i * outF + o] * wq[o * inF + k]);
        }
        AttentionCompositionTests.AssertClose(yRef, y.ToArray<float>(), 1e-5, "y = x·Wᵀ");
        AttentionCompositionTests.AssertClose(dxRef, dx.ToArray<float>(), 1e-5, "dx = dy·W");
        Assert.Equal(outF * inF * dtype.Size(), w.Bytes);
        w.Forward(xt, y, accumulate: true);                      // y += x·Wᵀ
        AttentionCompositionTests.AssertClose(yRef.Select(v => 2 * v).ToArray(), y.ToArray<float>(), 1e-5, "accumulated y");
    }
}
