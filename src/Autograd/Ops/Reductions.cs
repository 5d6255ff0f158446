using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>
    /// y = Σ x over every element (a scalar [1]). Backward: dx = dy·1, written as the product ones[N,1]·dy[1,1] so
    /// the scalar gradient never has to be read back to the host.
    /// </summary>
    public static Var Sum(this Tape tape, Var x) => SumScaled(tape, x, 1f, "sum");

    /// <summary>y = (1/N) Σ x. Backward: dx = dy/N.</summary>
    public static Var Mean(this Tape tape, Var x) => SumScaled(tape, x, 1f / x.Value.Length, "mean");

    private static Var SumScaled(Tape tape, Var x, float alpha, string op)
    {
        using var _ = tape.Profile(op);
        var be = tape.Backend;
        var y = Tensor.Empty(be, 1);
        using (var row = x.Value.Reshape(1, -1)) be.RowSum(row, y);
        if (alpha != 1f) be.Scale(y, alpha, y);
        return tape.Record(op, y, [x], dy => Gradients.AccumulateGemm(x, (dx, beta) =>
        {
            using var ones = Tensor.Full(be, 1f, checked((int)x.Value.Length), 1);
            using var dy2 = dy.Reshape(1, 1);
            using var dx2 = dx.Reshape(-1, 1);
            be.Gemm(ones, false, dy2, false, dx2, alpha, beta);
        }));
    }
}
