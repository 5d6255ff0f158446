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

    /// <summary>The fused op over several frozen weights sharing x (q/k/v, gate/up) is, output by output and in its
    /// input gradient, the separate <c>tape.Linear</c>s: y_g = x·W_gᵀ, dx = Σ_g dy_g·W_g. Bound as above.</summary>
    [Theory]
    [InlineData("reference", 1)]
    [InlineData("cpu", 1)]      // the fused decoding loop
    [InlineData("cpu", 6)]      // more rows than decoding: one product per weight
    public void Linear_over_several_weights_equals_one_linear_per_weight(string backend, int n)
    {
        using var be = TestBackends.Create(backend);
        var rng = new Random(9);
        const int inF = 40;
        int[] outs = [24, 8, 8];
        var ws = outs.Select(o => { using var w32 = Rand(be, rng, o, inF); return new DenseFrozenWeight(w32.Cast(DType.BF16)); }).ToArray();
        try
        {
            var x = Uniform(rng, n * inF);
            var dys = outs.Select(o => Uniform(rng, n * o)).ToArray();
            (float[][] Ys, float[] Dx) Run(bool fused)
            {
                using var tape = new Tape(be);
                using var xt = Tensor.FromArray(be, x, 1, n, inF);
                var xv = Var.Parameter(xt.Clone(), "x");
                var constants = new List<Var>();
                try
                {
                    var ys = fused ? tape.Linear(xv, ws) : ws.Select(w => tape.Linear(xv, w)).ToArray();
                    var values = ys.Select(y => y.Value.ToArray<float>()).ToArray();   // backward frees the outputs
                    // L = Σ_g <y_g, dy_g>, so dL/dy_g = dy_g.
                    Var? loss = null;
                    for (int g = 0; g < ys.Length; g++)
                    {
                        using var c = Tensor.FromArray(be, dys[g], 1, n, outs[g]);
                        constants.Add(Var.Constant(c.Clone()));
                        var term = tape.Sum(tape.Mul(ys[g], constants[^1]));
                        loss = loss is null ? term : tape.Add(loss, term);
                    }
                    tape.Backward(loss!);
                    return (values, xv.Grad!.ToArray<float>());
                }
                finally
                {
                    xv.Dispose();
                    foreach (var v in constants) v.Dispose();
                }
            }
            var (fy, fdx) = Run(fused: true);
            var (sy, sdx) = Run(fused: false);
            for (int g = 0; g < outs.Length; g++) AttentionCompositionTests.AssertClose(sy[g], fy[g], 1e-5, $"y{g}");
            AttentionCompositionTests.AssertClose(sdx, fdx, 1e-5, "dx");
        }
        finally
        {
            foreach (var w in ws) w.Dispose();
        }
    }
}
