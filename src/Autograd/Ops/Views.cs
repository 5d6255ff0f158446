using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>Same elements, another shape: a view sharing x's storage. Backward: dx = dy reshaped (sharing dy's buffer unless the output was retained).</summary>
    public static Var Reshape(this Tape tape, Var x, params int[] shape)
    {
        var y = x.Value.Reshape(shape);
        Var? output = null;
        output = tape.Record("reshape", y, [x], dy => Gradients.AccumulateCopy(x, dy, share: !output!.Retained));
        return output;
    }

    /// <summary>Swaps the last two dimensions, y[.., j, i] = x[.., i, j] (a copy: tensors are contiguous).
    /// Backward: dx = dyᵀ the same way.</summary>
    public static Var Transpose(this Tape tape, Var x)
    {
        using var _ = tape.Profile("transpose");
        var s = x.Value.ShapeArray();
        (s[^1], s[^2]) = (s[^2], s[^1]);
        var y = Tensor.Empty(tape.Backend, s);
        tape.Backend.Transpose(x.Value, y);
        return tape.Record("transpose", y, [x], dy => Gradients.Accumulate(x, dx => tape.Backend.Transpose(dy, dx)));
    }
}
