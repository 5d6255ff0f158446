using LoRAM.Autograd.Optim;
using LoRAM.Tensors;

namespace LoRAM.Autograd.Tests;

/// <summary>End to end: tape + ops + AdamW + a cosine schedule fit a function.</summary>
public class MlpTrainingTests
{
    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Two_layer_mlp_learns_sin_to_mse_below_2e_3(string backend)
    {
        using var be = TestBackends.Create(backend);
        const int n = 64, hidden = 32, steps = 600;
        var rng = new Random(1);
        // Inputs x ∈ [−π, π] with a constant 1 column (the first layer's bias), targets sin x.
        var xs = new float[n * 2];
        var ys = new float[n];
        for (int i = 0; i < n; i++)
        {
            double x = -Math.PI + 2 * Math.PI * i / (n - 1);
            xs[2 * i] = (float)x; xs[2 * i + 1] = 1f; ys[i] = (float)Math.Sin(x);
        }
        using var input = Var.Constant(Tensor.FromArray(be, xs, n, 2));
        using var target = Var.Constant(Tensor.FromArray(be, ys, n, 1));
        using var w1 = Var.Parameter(Tensor.FromArray(be, GradCheck.Uniform(rng, hidden * 2, 1.5f), hidden, 2), "w1");
        using var w2 = Var.Parameter(Tensor.FromArray(be, GradCheck.Uniform(rng, hidden, 0.3f), 1, hidden), "w2");
        using var opt = new AdamW([w1, w2], weightDecay: 0f);
        var schedule = LrSchedule.Cosine(3e-2, warmupSteps: 20, totalSteps: steps, floor: 3e-3);
        float loss = float.NaN;
        for (int step = 0; step < steps; step++)
        {
            using var tape = new Tape(be);
            var pred = tape.Linear(tape.Silu(tape.Linear(input, w1)), w2);
            var diff = tape.Sub(pred, target);
            var l = tape.Mean(tape.Mul(diff, diff));
            tape.Backward(l);
            loss = l.Item();
            opt.Step(schedule.Rate(step));
            opt.ZeroGrad();
        }
        Assert.True(loss < 2e-3f, $"final MSE {loss}");
    }
}
