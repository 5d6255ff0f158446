using LoRAM.Autograd.Optim;
using LoRAM.Tensors;

namespace LoRAM.Autograd.Tests;

/// <summary>Optimizers, clipping and schedules against values computed by hand (in double) from torch's update rules.</summary>
public class OptimizerTests
{
    private static readonly float[] P0 = [0.5f, -1.25f, 2f, 0.03f];
    private static readonly float[][] Grads = [[0.1f, -0.2f, 0.3f, 1e-4f], [-0.4f, 0.5f, 0.05f, 0f], [0.2f, 0.2f, -0.6f, 3f]];

    private static void SetGrad(Var p, float[] g)
    {
        p.ZeroGrad();
        p.Grad = Tensor.FromArray(p.Backend, g, g.Length);
    }

    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void AdamW_matches_torch_rule_with_bias_correction_and_decoupled_decay(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var p = Var.Parameter(Tensor.FromArray(be, (float[])P0.Clone(), 4), "w");
        using var opt = new AdamW([p], beta1: 0.9f, beta2: 0.95f, eps: 1e-8f, weightDecay: 0.1f);
        double[] x = P0.Select(v => (double)v).ToArray(), m = new double[4], v = new double[4];
        double lr = 1e-2;
        for (int t = 1; t <= Grads.Length; t++)
        {
            SetGrad(p, Grads[t - 1]);
            opt.Step((float)lr);
            for (int i = 0; i < 4; i++)
            {
                // torch.optim.AdamW: p *= 1 − lr·wd; m, v updates; p −= lr · m̂ / (√v̂ + eps).
                double g = Grads[t - 1][i];
                x[i] *= 1 - lr * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.95 * v[i] + 0.05 * g * g;
                double mh = m[i] / (1 - Math.Pow(0.9, t)), vh = v[i] / (1 - Math.Pow(0.95, t));
                x[i] -= lr * mh / (Math.Sqrt(vh) + 1e-8);
            }
        }
        // Bound 1e-6 relative: float32 state versus the double recurrence (torch's own order differs from the
        // kernel's by lr²·wd, far below that).
        AttentionCompositionTests.AssertClose(x.Select(d => (float)d).ToArray(), p.Value.ToArray<float>(), 1e-6, "AdamW parameters");
    }

    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void Exported_optimizer_state_resumes_exactly(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var p = Var.Parameter(Tensor.FromArray(be, (float[])P0.Clone(), 4), "w");
        using var opt = new AdamW([p]);
        SetGrad(p, Grads[0]); opt.Step(1e-2f);
        SetGrad(p, Grads[1]); opt.Step(1e-2f);
        var state = opt.ExportState();
        using var q = Var.Parameter(p.Value.Clone(), "w");
        using var resumed = new AdamW([q]);
        resumed.ImportState(state);
        foreach (var t in state.Values) t.Dispose();
        Assert.Equal(2, resumed.StepCount);
        SetGrad(p, Grads[2]); opt.Step(1e-2f);
        SetGrad(q, Grads[2]); resumed.Step(1e-2f);
        Assert.Equal(p.Value.ToArray<float>(), q.Value.ToArray<float>());
    }

    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void Sgd_with_momentum_and_weight_decay_matches_torch(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var p = Var.Parameter(Tensor.FromArray(be, (float[])P0.Clone(), 4), "w");
        using var opt = new Sgd([p], momentum: 0.9f, weightDecay: 0.01f);
        double[] x = P0.Select(v => (double)v).ToArray(), buf = new double[4];
        for (int t = 0; t < Grads.Length; t++)
        {
            SetGrad(p, Grads[t]);
            opt.Step(0.1f);
            for (int i = 0; i < 4; i++)
            {
                double g = Grads[t][i] + 0.01 * x[i];
                buf[i] = t == 0 ? g : 0.9 * buf[i] + g;
                x[i] -= 0.1 * buf[i];
            }
        }
        AttentionCompositionTests.AssertClose(x.Select(d => (float)d).ToArray(), p.Value.ToArray<float>(), 1e-6, "SGD parameters");
    }

    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void Global_norm_clipping_scales_all_gradients_by_max_over_norm(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var a = Var.Parameter(Tensor.Zeros(be, 2), "a");
        using var b = Var.Parameter(Tensor.Zeros(be, 1), "b");
        SetGrad(a, [3f, 0f]);
        SetGrad(b, [4f]);
        double norm = GradClip.ClipGlobalNorm([a, b], 1.0);
        Assert.Equal(5.0, norm, 12);
        float f = (float)(1.0 / (5.0 + 1e-6));
        Assert.Equal([3f * f, 0f], a.Grad!.ToArray<float>());
        Assert.Equal(4f * f, b.Grad!.ToArray<float>()[0], 6);
        Assert.Equal(1.0, GradClip.ClipGlobalNorm([a, b], 10.0), 5);   // under the limit: untouched
    }

    [Fact]
    public void Schedules_warm_up_linearly_then_decay_to_the_floor()
    {
        var cos = LrSchedule.Cosine(1e-3, warmupSteps: 10, totalSteps: 110, floor: 1e-4);
        Assert.Equal(0f, cos.Rate(0));
        Assert.Equal(5e-4f, cos.Rate(5), 9);
        Assert.Equal(1e-3f, cos.Rate(10), 9);
        Assert.Equal((float)(1e-4 + 9e-4 * 0.5), cos.Rate(60), 9);      // half way: cos(π/2) = 0
        Assert.Equal(1e-4f, cos.Rate(110), 9);
        Assert.Equal(1e-4f, cos.Rate(500), 9);                           // after the end: the floor
        var lin = LrSchedule.Linear(2e-3, warmupSteps: 0, totalSteps: 100);
        Assert.Equal(2e-3f, lin.Rate(0), 9);
        Assert.Equal(1.5e-3f, lin.Rate(25), 9);
        Assert.Equal(0f, lin.Rate(100), 9);
        var constant = LrSchedule.Constant(3e-4, warmupSteps: 4);
        Assert.Equal(1.5e-4f, constant.Rate(2), 9);
        Assert.Equal(3e-4f, constant.Rate(1000), 9);
    }

    [Fact]
    public void Gradient_accumulation_steps_every_n_micro_batches_with_scaled_loss()
    {
        var acc = new GradientAccumulation(4);
        Assert.Equal(0.25f, acc.LossScale);
        var steps = Enumerable.Range(0, 8).Select(_ => acc.MicroBatchDone()).ToArray();
        Assert.Equal([false, false, false, true, false, false, false, true], steps);
    }

    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void Accumulated_scaled_micro_batches_give_the_full_batch_gradient(string backend)
    {
        using var be = TestBackends.Create(backend);
        var rng = new Random(5);
        using var w = Var.Parameter(GradCheck.Rand(be, rng, 3, 4), "w");
        var xs = GradCheck.Uniform(rng, 8 * 4);
        Var Loss(Tape t, int start, int rows)
        {
            var x = Var.Constant(Tensor.FromArray(be, xs[(start * 4)..((start + rows) * 4)], rows, 4));
            var y = t.Linear(x, w);
            return t.Mean(t.Mul(y, y));
        }
        using (var t = new Tape(be)) t.Backward(Loss(t, 0, 8));
        var full = w.Grad!.ToArray<float>();
        w.ZeroGrad();
        var acc = new GradientAccumulation(2);
        for (int mb = 0; mb < 2; mb++)
            using (var t = new Tape(be)) t.Backward(t.Scale(Loss(t, mb * 4, 4), acc.LossScale));
        AttentionCompositionTests.AssertClose(full, w.Grad!.ToArray<float>(), 1e-5, "accumulated gradient");
    }
}
