using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Linear layer with a frozen weight: y = x·Wᵀ, x [.., in], y [.., out].
    /// Backward: dx = dy·W. W gets no gradient and nothing is saved (W is needed anyway, x is not).
    /// </summary>
    public static Var Linear(this Tape tape, Var x, FrozenWeight w)
    {
        using var _ = tape.Profile("linear");
        var y = Tensor.Empty(tape.Backend, OutShape(x, w.OutFeatures));
        w.Forward(x.Value, y);
        return tape.Record("linear", y, [x], dy =>
            Gradients.AccumulateGemm(x, (dx, beta) => w.BackwardInput(dy, dx, accumulate: beta != 0)));
    }

    /// <summary>
    /// Several frozen linear layers reading the same input (a decoder layer's q/k/v, or gate/up): y_g = x·W_gᵀ, all
    /// computed by one <see cref="Backend.MultiLinear"/> call, so a decoded token pays one parallel dispatch for the
    /// group. Each output is its own node, with the backward of <see cref="Linear(Tape, Var, FrozenWeight)"/>:
    /// dx += dy_g·W_g. The weights must share one dtype (at most <see cref="Backend.MultiLinearMax"/> of them).
    /// </summary>
    public static Var[] Linear(this Tape tape, Var x, IReadOnlyList<DenseFrozenWeight> weights)
    {
        using var _ = tape.Profile("linear");
        var ys = new Tensor[weights.Count];
        var ws = new Tensor[weights.Count];
        try
        {
            for (int g = 0; g < ys.Length; g++)
            {
                ws[g] = weights[g].Weight;
                ys[g] = Tensor.Empty(tape.Backend, OutShape(x, weights[g].OutFeatures));
            }
            tape.Backend.MultiLinear(x.Value, ws, ys);
        }
        catch
        {
            foreach (var y in ys) y?.Dispose();
            throw;
        }
        var outputs = new Var[ys.Length];
        for (int g = 0; g < ys.Length; g++)
        {
            var w = weights[g];
            outputs[g] = tape.Record("linear", ys[g], [x], dy =>
                Gradients.AccumulateGemm(x, (dx, beta) => w.BackwardInput(dy, dx, accumulate: beta != 0)));
        }
        return outputs;
    }

    /// <summary>
    /// Linear layer with a frozen weight whose gradient is observed, not kept: y = x·Wᵀ as above, and in the backward
    /// pass <paramref name="weightGradient"/> is handed dy [n, out] and x [n, in] (flattened), from which
    /// dW = dyᵀ·x follows; what it keeps of dW is its business, and no [out, in] gradient outlives the call. This is
    /// how importance scores that need ∂L/∂W (Taylor pruning) are gathered while W stays frozen in its stored dtype.
    /// The output always needs a gradient (the observer is the reason to run backward), so every op above records.
    /// Backward: dx = dy·W when x needs it; then weightGradient(dy, x). Nothing is saved (x is alive until its own
    /// node runs, which comes after this one).
    /// </summary>
    public static Var Linear(this Tape tape, Var x, FrozenWeight w, Action<Tensor, Tensor> weightGradient)
    {
        using var _ = tape.Profile("linear");
        var y = Tensor.Empty(tape.Backend, OutShape(x, w.OutFeatures));
        w.Forward(x.Value, y);
        return tape.Record("linear_observed", y, anyInputNeedsGrad: true, dy =>
        {
            Gradients.AccumulateGemm(x, (dx, beta) => w.BackwardInput(dy, dx, accumulate: beta != 0));
            using var dy2 = dy.Reshape(-1, w.OutFeatures);
            using var x2 = x.Value.Reshape(-1, w.InFeatures);
            weightGradient(dy2, x2);
        }, []);
    }

    /// <summary>
    /// Linear layer with a trainable weight W [out, in]: y = x·Wᵀ.
    /// Backward: dx = dy·W;  dW += dyᵀ·x  (x, dy flattened to [n, in], [n, out]).
    /// </summary>
    public static Var Linear(this Tape tape, Var x, Var w)
    {
        using var _ = tape.Profile("linear");
        int outF = w.Value.Dim(0), inF = w.Value.Dim(1);
        var b = tape.Backend;
        var y = Tensor.Empty(b, OutShape(x, outF));
        using (var x2 = x.Value.Reshape(-1, inF))
        using (var y2 = y.Reshape(-1, outF))
            b.Gemm(x2, false, w.Value, true, y2);
        return tape.Record("linear", y, [x, w], dy =>
        {
            using var dy2 = dy.Reshape(-1, outF);
            Gradients.AccumulateGemm(x, (dx, beta) =>
            {
                using var dx2 = dx.Reshape(-1, inF);
                b.Gemm(dy2, false, w.Value, false, dx2, 1f, beta);
            });
            Gradients.AccumulateGemm(w, (dw, beta) =>
            {
                using var x2 = x.Value.Reshape(-1, inF);
                b.Gemm(dy2, true, x2, false, dw, 1f, beta);
            });
        });
    }

    private static int[] OutShape(Var x, int lastDim)
    {
        var s = x.Value.ShapeArray();
        s[^1] = lastDim;
        return s;
    }
}
