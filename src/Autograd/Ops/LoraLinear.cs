using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>
    /// A LoRA-adapted linear layer with a frozen base weight (PEFT's lora.Linear, the paper's Eq. (1)):
    ///   y = x·W0ᵀ + s·(drop(x)·Aᵀ)·Bᵀ,     W0 [out, in] frozen, A [r, in], B [out, r], s = alpha/r.
    /// Only A and B are trained; W0 contributes only to dx.
    ///
    /// Unmasked backward, with xd = drop(x) and u = xd·Aᵀ [n, r] (saved):
    ///   dB += s·dyᵀ·u;   du = s·dy·B;   dA += duᵀ·xd;   dx = dy·W0 + drop(du·A).
    ///
    /// With a mask M [out, in] (non-structured pruning, paper §3: the effective delta must stay zero where W0 was
    /// pruned), the delta is ΔW = (B·A) ⊙ M and y = x·W0ᵀ + s·xd·ΔWᵀ. With P = B·A:
    ///   dΔW = s·dyᵀ·xd  [out, in];   dP = dΔW ⊙ M =: G   (masked positions get no gradient);
    ///   dB += G·Aᵀ;   dA += Bᵀ·G;   dx = dy·W0 + drop(s·dy·ΔW).
    /// ΔW is recomputed in backward (one rank-r product) rather than kept: an [out, in] float32 per layer would
    /// cost more than the frozen BF16 weight itself. Dropout uses the counter-based mask of <paramref name="seed"/>,
    /// so xd is also recomputed rather than stored.
    /// </summary>
    public static Var LoraLinear(this Tape tape, Var x, FrozenWeight w0, Var a, Var b, float scaling,
        float dropout = 0f, ulong seed = 0, Tensor? mask = null)
    {
        using var _ = tape.Profile("lora_linear");
        var be = tape.Backend;
        int inF = w0.InFeatures, outF = w0.OutFeatures, r = a.Value.Dim(0);
        if (a.Value.Dim(1) != inF || b.Value.Dim(0) != outF || b.Value.Dim(1) != r)
            throw new ArgumentException($"LoRA shapes A [{string.Join(", ", a.Value.ShapeArray())}], B [{string.Join(", ", b.Value.ShapeArray())}] do not fit W0 [{outF}, {inF}]");

        var y = Tensor.Empty(be, OutShape(x, outF));
        var x2 = x.Value.Reshape(-1, inF);
        var y2 = y.Reshape(-1, outF);
        int n = x2.Dim(0);
        w0.Forward(x2, y2);
        using var xd = DropoutCopy(be, x2, dropout, seed);
        Tensor? u = null;
        if (mask is null)
        {
            u = Tensor.Empty(be, n, r);
            be.Gemm(xd, false, a.Value, true, u);
            be.Gemm(u, false, b.Value, true, y2, scaling, 1f);
        }
        else
        {
            using var delta = MaskedDelta(be, a.Value, b.Value, mask);
            be.Gemm(xd, false, delta, true, y2, scaling, 1f);
        }
        y2.Dispose();

        Tensor[] saved = u is null ? [x2] : [x2, u];
        return tape.Record("lora_linear", y, [x, a, b], dy =>
        {
            using var dy2 = dy.Reshape(-1, outF);
            using var xdB = dropout > 0f ? DropoutCopy(be, x2, dropout, seed) : x2.Reshape(n, inF);
            if (mask is null) LoraBackwardUnmasked(be, x, a, b, w0, x2, xdB, u!, dy2, scaling, dropout, seed);
            else LoraBackwardMasked(be, x, a, b, w0, xdB, mask, dy2, scaling, dropout, seed);
        }, saved);
    }

    private static void LoraBackwardUnmasked(Backend be, Var x, Var a, Var b, FrozenWeight w0, Tensor x2, Tensor xd,
        Tensor u, Tensor dy, float s, float dropout, ulong seed)
    {
        int n = dy.Dim(0), r = a.Value.Dim(0), inF = x2.Dim(1);
        Gradients.AccumulateGemm(b, (db, beta) => be.Gemm(dy, true, u, false, db, s, beta));   // dB += s·dyᵀ·u
        if (!a.RequiresGrad && !x.RequiresGrad) return;
        using var du = Tensor.Empty(be, n, r);
        be.Gemm(dy, false, b.Value, false, du, s);                                                // du = s·dy·B
        Gradients.AccumulateGemm(a, (da, beta) => be.Gemm(du, true, xd, false, da, 1f, beta));  // dA += duᵀ·xd
        if (!x.RequiresGrad) return;
        Gradients.AccumulateGemm(x, (dx, beta) =>
        {
            using var dx2 = dx.Reshape(-1, inF);
            w0.BackwardInput(dy, dx2, accumulate: beta != 0);                                    // dx = dy·W0
            if (dropout == 0f) { be.Gemm(du, false, a.Value, false, dx2, 1f, 1f); return; }     //    + du·A
            using var t = Tensor.Empty(be, n, inF);
            be.Gemm(du, false, a.Value, false, t);
            be.Dropout(t, dropout, seed, t);                                                      //    + drop(du·A)
            be.Add(dx2, t, dx2);
        });
    }

    private static void LoraBackwardMasked(Backend be, Var x, Var a, Var b, FrozenWeight w0, Tensor xd, Tensor mask,
        Tensor dy, float s, float dropout, ulong seed)
    {
        int n = dy.Dim(0), inF = xd.Dim(1), outF = dy.Dim(1);
        if (a.RequiresGrad || b.RequiresGrad)
        {
            using var g = Tensor.Empty(be, outF, inF);
            be.Gemm(dy, true, xd, false, g, s);                                                   // dΔW = s·dyᵀ·xd
            be.Mul(g, mask, g);                                                                   // G = dΔW ⊙ M
            Gradients.AccumulateGemm(b, (db, beta) => be.Gemm(g, false, a.Value, true, db, 1f, beta));  // dB += G·Aᵀ
            Gradients.AccumulateGemm(a, (da, beta) => be.Gemm(b.Value, true, g, false, da, 1f, beta));  // dA += Bᵀ·G
        }
        if (!x.RequiresGrad) return;
        using var delta = MaskedDelta(be, a.Value, b.Value, mask);
        Gradients.AccumulateGemm(x, (dx, beta) =>
        {
            using var dx2 = dx.Reshape(-1, inF);
            w0.BackwardInput(dy, dx2, accumulate: beta != 0);                                    // dx = dy·W0
            if (dropout == 0f) { be.Gemm(dy, false, delta, false, dx2, s, 1f); return; }         //    + s·dy·ΔW
            using var t = Tensor.Empty(be, n, inF);
            be.Gemm(dy, false, delta, false, t, s);
            be.Dropout(t, dropout, seed, t);                                                      //    + drop(s·dy·ΔW)
            be.Add(dx2, t, dx2);
        });
    }

    /// <summary>ΔW = (B·A) ⊙ M, [out, in].</summary>
    private static Tensor MaskedDelta(Backend be, Tensor a, Tensor b, Tensor mask)
    {
        var delta = Tensor.Empty(be, b.Dim(0), a.Dim(1));
        be.Gemm(b, false, a, false, delta);
        be.Mul(delta, mask, delta);
        return delta;
    }

    /// <summary>drop(x) as a new tensor, or a view of x itself when p = 0.</summary>
    private static Tensor DropoutCopy(Backend be, Tensor x, float p, ulong seed)
    {
        if (p == 0f) return x.Reshape(x.ShapeArray());
        var y = Tensor.Empty(be, x.ShapeArray());
        be.Dropout(x, p, seed, y);
        return y;
    }
}
