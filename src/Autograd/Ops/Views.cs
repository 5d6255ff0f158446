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

    /// <summary>Rows [start, start + count) of a matrix x [n, d]: a view sharing x's storage (e.g. one piece of the
    /// tokens, to run the LM head and the loss piece by piece). Backward: dx[start..start+count) += dy, zero elsewhere.</summary>
    public static Var Rows(this Tape tape, Var x, int start, int count)
    {
        if (x.Value.Rank != 2 || start < 0 || count <= 0 || start + count > x.Value.Dim(0))
            throw new ArgumentException($"rows [{start}, {start + count}) of [{string.Join(", ", x.Value.ShapeArray())}]");
        int d = x.Value.Dim(1);
        var y = x.Value.View((long)start * d, count, d);
        return tape.Record("rows", y, [x], dy => Gradients.AccumulateAdding(x, dx =>
        {
            using var part = dx.View((long)start * d, count, d);
            tape.Backend.Add(part, dy, part);
        }));
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
