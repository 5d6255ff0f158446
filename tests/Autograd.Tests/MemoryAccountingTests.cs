using LoRAM.Autograd.Optim;
using LoRAM.Tensors;
using static LoRAM.Autograd.Tests.GradCheck;

namespace LoRAM.Autograd.Tests;

/// <summary>No op leaks device memory; the ledger splits it by category; the profiler sees every op.</summary>
public class MemoryAccountingTests
{
    /// <summary>A graph through every op, with a broadcast matmul, a masked LoRA with dropout and a checkpoint.</summary>
    private static Var EveryOp(Tape t, Var x, Var table, Tensor ids, Tensor targets, FrozenWeight w0, Var a, Var b, Var w,
        Var norm, Tensor mask, Tensor halfMask, Tensor cos, Tensor sin, Tensor positions)
    {
        var e = t.Add(t.Embedding(table, ids), x);                                      // [4, 8]
        var h = t.RmsNorm(e, norm);
        h = t.LoraLinear(h, w0, a, b, 2f, 0.1f, 3, mask);                              // [4, 8]
        h = Checkpoint.Run(t, (tt, z) => tt.Silu(tt.Linear(z, w)), h);
        var q = t.Rope(t.Reshape(h, 1, 4, 2, 4), cos, sin, positions);
        var att = t.Reshape(t.Attention(q, q, q), 4, 8);
        var g = t.SwiGlu(att, t.Dropout(h, 0.2f, 9));
        var mm = t.MatMul(t.Reshape(g, 2, 2, 8), w, transB: true);                     // broadcast W [8, 8]
        var s = t.Softmax(t.Transpose(t.Reshape(mm, 4, 8)));
        var sm = t.Sub(t.Scale(t.Transpose(s), 3f), t.MaskedMul(g, halfMask));
        var ce = t.CrossEntropy(t.Mul(sm, g), targets);
        return t.Add(ce, t.Mean(t.Sum(g)));
    }

    [Fact]
    public void A_training_step_through_every_op_returns_all_memory()
    {
        using var be = new ReferenceBackend();
        var rng = new Random(4);
        using var x = Var.Parameter(Rand(be, rng, 4, 8), "x");
        using var table = Var.Parameter(Rand(be, rng, 6, 8), "table");
        using var ids = Tensor.FromArray(be, [1, 5, 1, 0], 4);
        using var targets = Tensor.FromArray(be, [2, Ops.IgnoreIndex, 7, 0], 4);
        using var w0 = new DenseFrozenWeight(Rand(be, rng, 8, 8).Cast(DType.BF16));
        using var a = Var.Parameter(Rand(be, rng, 2, 8), "A");
        using var b = Var.Parameter(Rand(be, rng, 8, 2), "B");
        using var w = Var.Parameter(Rand(be, rng, 8, 8), "w");
        using var norm = Var.Parameter(Tensor.Full(be, 1f, 8), "norm");
        using var mask = Tensor.FromArray(be, Uniform(rng, 64).Select(u => u > 0 ? 1f : 0f).ToArray(), 8, 8);
        var (cos, sin) = Ops.RopeTables(be, 8, 4);
        using var _c = cos; using var _s = sin;
        using var positions = Tensor.FromArray(be, [0, 1, 2, 3], 4);
        using var halfMask = mask.View(0, 4, 8);
        var parameters = new[] { x, table, a, b, w, norm };
        long baseline = be.Memory.LiveBytes;
        using (var opt = new AdamW(parameters))
        {
            for (int step = 0; step < 2; step++)
            {
                using var tape = new Tape(be);
                var loss = EveryOp(tape, x, table, ids, targets, w0, a, b, w, norm, mask, halfMask, cos, sin, positions);
                tape.Backward(loss);
                Assert.All(parameters, p => Assert.NotNull(p.Grad));
                opt.Step(1e-3f);
                opt.ZeroGrad();
            }
        }
        Assert.Equal(baseline, be.Memory.LiveBytes);
    }

    [Fact]
    public void Ledger_splits_memory_into_frozen_trainable_gradient_optimizer_and_activations()
    {
        using var be = new ReferenceBackend();
        var rng = new Random(5);
        using var w0 = new DenseFrozenWeight(Rand(be, rng, 32, 16).Cast(DType.BF16));
        using var a = Var.Parameter(Rand(be, rng, 4, 16), "A");
        using var b = Var.Parameter(Rand(be, rng, 32, 4), "B");
        using var x = Var.Constant(Rand(be, rng, 64, 16));
        var ledger = new MemoryLedger();
        ledger.AddFrozen(w0);
        ledger.AddParameters([a, b]);
        using var opt = new AdamW([a, b]);
        ledger.AddOptimizer(opt);
        using (var tape = new Tape(be) { Ledger = ledger })
        {
            tape.Backward(tape.Mean(tape.Silu(tape.LoraLinear(x, w0, a, b, 1f))));
            opt.Step(1e-3f);
        }
        ledger.Sample(be);
        Assert.Equal(32 * 16 * 2, ledger.Peak(MemoryCategory.FrozenBF16));
        Assert.Equal((4 * 16 + 32 * 4) * 4, ledger.Peak(MemoryCategory.TrainableParams));
        Assert.Equal((4 * 16 + 32 * 4) * 4, ledger.Peak(MemoryCategory.Gradients));
        Assert.Equal(2 * (4 * 16 + 32 * 4) * 4, ledger.Live(MemoryCategory.OptimizerState));
        // At the start of backward the LoRA output (64·32 floats) and the SiLU output are alive.
        Assert.True(ledger.Peak(MemoryCategory.Activations) >= 2 * 64 * 32 * 4, $"activations {ledger.Peak(MemoryCategory.Activations)}");
    }

    [Fact]
    public void Profiler_accumulates_forward_and_backward_time_per_op()
    {
        using var be = new ReferenceBackend();
        var rng = new Random(6);
        using var w = Var.Parameter(Rand(be, rng, 8, 8), "w");
        using var x = Var.Constant(Rand(be, rng, 4, 8));
        var profiler = new OpProfiler();
        using (var tape = new Tape(be, profiler)) tape.Backward(tape.Mean(tape.Silu(tape.Linear(x, w))));
        var ops = profiler.Entries.ToDictionary(e => e.Op);
        Assert.Equal(["linear", "mean", "silu"], ops.Keys.Order().ToArray());
        Assert.All(ops.Values, e => { Assert.Equal(1, e.ForwardCalls); Assert.Equal(1, e.BackwardCalls); });
        Assert.True(profiler.Total > TimeSpan.Zero);
    }
}
