using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>
    /// RMSNorm over the last dimension (LLaMA): rstd = 1/√(mean(x²) + eps), y = x·rstd·w.
    /// Backward: dx = rstd·(w⊙dy) − x·rstd³/d·Σ(w⊙dy⊙x); dw = Σ_rows dy⊙x·rstd. Saves x and rstd [rows].
    /// The weight may be a frozen constant (the usual LoRA setting) or trainable.
    /// </summary>
    public static Var RmsNorm(this Tape tape, Var x, Var weight, float eps = 1e-5f)
    {
        using var _ = tape.Profile("rmsnorm");
        var be = tape.Backend;
        var y = Tensor.Empty(be, x.Value.ShapeArray());
        var rstd = Tensor.Empty(be, x.Value.Rows);
        be.RmsNorm(x.Value, weight.Value, eps, y, rstd);
        return tape.Record("rmsnorm", y, [x, weight], dy =>
        {
            Tensor? dw = null;
            if (weight.RequiresGrad) Gradients.AccumulateAdding(weight, g => dw = g);
            if (x.RequiresGrad && x.Grad is null)
            {
                x.Grad = Tensor.Empty(be, DType.F32, x.Value.ShapeArray());
                be.RmsNormBackward(x.Value, weight.Value, rstd, dy, x.Grad, dw);
                return;
            }
            using var dx = Gradients.Scratch(x);
            be.RmsNormBackward(x.Value, weight.Value, rstd, dy, dx, dw);
            if (x.RequiresGrad) be.Add(x.Grad!, dx, x.Grad!);
        }, rstd);
    }
}
