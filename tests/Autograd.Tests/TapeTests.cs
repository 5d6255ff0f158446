using LoRAM.Tensors;
using static LoRAM.Autograd.Tests.GradCheck;

namespace LoRAM.Autograd.Tests;

/// <summary>The tape's bookkeeping: what it records, what it frees, and when.</summary>
public class TapeTests
{
    [Fact]
    public void No_grad_scope_records_nothing_and_outputs_need_no_gradient()
    {
        using var be = new ReferenceBackend();
        using var w = Var.Parameter(Rand(be, new Random(1), 3, 3), "w");
        using var x = Var.Constant(Rand(be, new Random(2), 2, 3));
        using var tape = new Tape(be);
        using (tape.NoGrad())
        {
            var y = tape.Silu(tape.Linear(x, w));
            Assert.False(y.RequiresGrad);
        }
        Assert.Equal(0, tape.NodeCount);
        var z = tape.Linear(x, w);
        Assert.True(z.RequiresGrad);
        Assert.Equal(1, tape.NodeCount);
    }

    [Fact]
    public void Backward_frees_intermediates_and_release_returns_every_byte()
    {
        using var be = new ReferenceBackend();
        using var w = Var.Parameter(Rand(be, new Random(1), 16, 16), "w");
        using var x = Var.Constant(Rand(be, new Random(2), 8, 16));
        long baseline = be.Memory.LiveBytes;
        var tape = new Tape(be);
        var h = x;
        for (int i = 0; i < 4; i++) h = tape.Silu(tape.Linear(h, w));
        var loss = tape.Mean(h);
        long afterForward = be.Memory.LiveBytes;
        tape.Backward(loss);
        long afterBackward = be.Memory.LiveBytes;
        // What is left: the loss, its seed gradient (64-byte blocks) and the gradient of w (16·16 floats).
        Assert.True(afterBackward - baseline <= 2 * 64 + 16 * 16 * 4, $"{afterBackward - baseline} bytes left after backward");
        Assert.True(afterForward - baseline > 8 * 8 * 16 * 4, "the forward pass holds its activations");
        Assert.Throws<ObjectDisposedException>(() => h.Value);
        Assert.Throws<InvalidOperationException>(() => tape.Backward(loss));   // the graph is gone
        tape.Dispose();
        w.ZeroGrad();
        Assert.Equal(baseline, be.Memory.LiveBytes);
    }
}
