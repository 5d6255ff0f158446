using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>y = silu(x) = x·σ(x). Backward: dx = dy·σ(x)(1 + x(1 − σ(x))); saves x.</summary>
    public static Var Silu(this Tape tape, Var x)
    {
        using var _ = tape.Profile("silu");
        var y = Tensor.Empty(tape.Backend, x.Value.ShapeArray());
        tape.Backend.Silu(x.Value, y);
        return tape.Record("silu", y, [x], dy => Gradients.Accumulate(x, dx => tape.Backend.SiluBackward(x.Value, dy, dx)));
    }

    /// <summary>
    /// LLaMA's MLP activation y = silu(gate) ⊙ up. Backward: dgate = dy ⊙ up ⊙ silu'(gate), dup = dy ⊙ silu(gate);
    /// one kernel writes both, so an input without a gradient gets a scratch buffer.
    /// </summary>
    public static Var SwiGlu(this Tape tape, Var gate, Var up)
    {
        using var _ = tape.Profile("swiglu");
        var be = tape.Backend;
        var y = Tensor.Empty(be, gate.Value.ShapeArray());
        be.SwiGlu(gate.Value, up.Value, y);
        return tape.Record("swiglu", y, [gate, up], dy =>
        {
            using var dg = Gradients.Scratch(gate);
            using var du = Gradients.Scratch(up);
            be.SwiGluBackward(gate.Value, up.Value, dy, dg, du);
            Gradients.AccumulateCopy(gate, dg);
            Gradients.AccumulateCopy(up, du);
        });
    }

    /// <summary>Row softmax y = exp(x − max)/Σ exp(x − max) over the last dimension. Backward: dx = y ⊙ (dy − Σ dy·y); saves y.</summary>
    public static Var Softmax(this Tape tape, Var x)
    {
        using var _ = tape.Profile("softmax");
        var y = Tensor.Empty(tape.Backend, x.Value.ShapeArray());
        tape.Backend.Softmax(x.Value, y);
        Var? output = null;
        output = tape.Record("softmax", y, [x], dy => Gradients.Accumulate(x, dx => tape.Backend.SoftmaxBackward(output!.Value, dy, dx)));
        return output;
    }

    /// <summary>
    /// Inverted dropout: kept elements (u(seed, i) ≥ p) are scaled by 1/(1−p). The mask is a pure function of
    /// (seed, i), so the backward pass is the same kernel on dy and no mask is stored. p = 0 is the identity.
    /// </summary>
    public static Var Dropout(this Tape tape, Var x, float p, ulong seed)
    {
        if (p == 0f) return x;
        if (p is < 0f or >= 1f) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        using var _ = tape.Profile("dropout");
        var y = Tensor.Empty(tape.Backend, x.Value.ShapeArray());
        tape.Backend.Dropout(x.Value, p, seed, y);
        return tape.Record("dropout", y, [x], dy => Gradients.Accumulate(x, dx => tape.Backend.Dropout(dy, p, seed, dx)));
    }
}
