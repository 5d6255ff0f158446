using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>y = a + b (equal lengths). Backward: da = dy, db = dy. On a residual stream a's gradient simply
    /// takes over dy's buffer (no copy) unless the output was retained.</summary>
    public static Var Add(this Tape tape, Var a, Var b)
    {
        using var _ = tape.Profile("add");
        var y = Tensor.Empty(tape.Backend, a.Value.ShapeArray());
        tape.Backend.Add(a.Value, b.Value, y);
        Var? output = null;
        output = tape.Record("add", y, [a, b], dy =>
        {
            Gradients.AccumulateCopy(b, dy);
            Gradients.AccumulateCopy(a, dy, share: !output!.Retained);
        });
        return output;
    }

    /// <summary>y = a − b. Backward: da = dy, db = −dy.</summary>
    public static Var Sub(this Tape tape, Var a, Var b)
    {
        using var _ = tape.Profile("sub");
        var y = Tensor.Empty(tape.Backend, a.Value.ShapeArray());
        tape.Backend.Sub(a.Value, b.Value, y);
        return tape.Record("sub", y, [a, b], dy =>
        {
            Gradients.AccumulateCopy(a, dy);
            Gradients.Accumulate(b, db => tape.Backend.Scale(dy, -1f, db));
        });
    }

    /// <summary>y = a ⊙ b. Backward: da = dy ⊙ b, db = dy ⊙ a.</summary>
    public static Var Mul(this Tape tape, Var a, Var b)
    {
        using var _ = tape.Profile("mul");
        var be = tape.Backend;
        var y = Tensor.Empty(be, a.Value.ShapeArray());
        be.Mul(a.Value, b.Value, y);
        return tape.Record("mul", y, [a, b], dy =>
        {
            Gradients.Accumulate(a, da => be.Mul(dy, b.Value, da));
            Gradients.Accumulate(b, db => be.Mul(dy, a.Value, db));
        });
    }

    /// <summary>y = α·x. Backward: dx = α·dy.</summary>
    public static Var Scale(this Tape tape, Var x, float alpha)
    {
        using var _ = tape.Profile("scale");
        var y = Tensor.Empty(tape.Backend, x.Value.ShapeArray());
        tape.Backend.Scale(x.Value, alpha, y);
        return tape.Record("scale", y, [x], dy => Gradients.Accumulate(x, dx => tape.Backend.Scale(dy, alpha, dx)));
    }

    /// <summary>
    /// y = x ⊙ M for a constant mask M (masked LoRA's effective delta (B·A) ⊙ M, paper §3 for non-structured pruning).
    /// Backward: dx = dy ⊙ M, so masked positions never receive gradient. M must live until the backward pass.
    /// </summary>
    public static Var MaskedMul(this Tape tape, Var x, Tensor mask)
    {
        using var _ = tape.Profile("masked_mul");
        var y = Tensor.Empty(tape.Backend, x.Value.ShapeArray());
        tape.Backend.Mul(x.Value, mask, y);
        return tape.Record("masked_mul", y, [x], dy => Gradients.Accumulate(x, dx => tape.Backend.Mul(dy, mask, dx)));
    }
}
