using LoRAM.Tensors.Cpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>AdamW against torch.optim.AdamW's rule. Bound: |err| ≤ 1e-7 + 1e-6·|expected| for p and m (m in absolute
/// terms, as it cancels), 1e-12 + 1e-6·|expected| for v.</summary>
public class CpuOptimizerTests
{
    private readonly CpuBackend _cpu = new(2);

    [Theory]
    [InlineData(37)]
    [InlineData(100_003)]
    public void AdamW_matches_float64_over_three_steps(int n)
    {
        float[] p = RandomValues(n, 100), m = new float[n], v = new float[n];
        using var tp = Tensor.FromArray(_cpu, p, n);
        using var tm = Tensor.Zeros(_cpu, n);
        using var tv = Tensor.Zeros(_cpu, n);
        const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
        for (int step = 1; step <= 3; step++)
        {
            float[] g = RandomValues(n, 100 + step);
            using var tg = Tensor.FromArray(_cpu, g, n);
            float bc1 = 1 - MathF.Pow(b1, step), bc2 = 1 - MathF.Pow(b2, step);
            _cpu.AdamW(tp, tg, tm, tv, lr, b1, b2, eps, wd, bc1, bc2);
            var (ep, em, ev) = AdamW(p, g, m, v, lr, b1, b2, eps, wd, bc1, bc2);
            p = tp.ToArray<float>(); m = tm.ToArray<float>(); v = tv.ToArray<float>();
            AssertClose(ep, p, 1e-6, 1e-7, $"param, step {step}");
            AssertClose(em, m, 1e-6, 1e-7, $"m, step {step}");   // m can cancel to far below its terms (~0.1·|g|): absolute bound
            AssertClose(ev, v, 1e-6, 1e-12, $"v, step {step}");
        }
    }

    [Fact]
    public void AdamW_first_step_moves_each_weight_by_lr_against_the_gradient_sign_plus_decay()
    {
        // Hand-computed torch rule at t = 1: m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps) ≈ lr·sign(g),
        // and decoupled decay subtracts lr·wd·p. p = 2, g = −0.5, lr = 0.1, wd = 0.1: 2 − 0.1·(0.2 − 1) = 2.08.
        using var p = Tensor.FromArray(_cpu, new[] { 2f, -1f }, 2);
        using var g = Tensor.FromArray(_cpu, new[] { -0.5f, 3f }, 2);
        using var m = Tensor.Zeros(_cpu, 2);
        using var v = Tensor.Zeros(_cpu, 2);
        _cpu.AdamW(p, g, m, v, 0.1f, 0.9f, 0.999f, 1e-8f, 0.1f, 1 - 0.9f, 1 - 0.999f);
        AssertClose(new[] { 2.08, -1 - 0.1 * (-0.1 + 1) }, p.ToArray<float>(), 1e-6, 1e-7, "p after one step");
        AssertClose(new[] { -0.05, 0.3 }, m.ToArray<float>(), 1e-6, 0, "m after one step");
        // 1 − 0.999f is 0.00099998713 in float32, hence the 1e-4 relative bound on v against the decimal rule.
        AssertClose(new[] { 0.00025, 0.009 }, v.ToArray<float>(), 1e-4, 0, "v after one step");
    }
}
