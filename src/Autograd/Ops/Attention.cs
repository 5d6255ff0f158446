using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Causal grouped-query attention: o = softmax(scale·q·kᵀ + causal mask)·v per head, query head h reading
    /// key/value head h/(Hq/Hkv). q [B, T, Hq, D]; k, v [B, S, Hkv, D]. The fused kernel saves only the per-query
    /// log-sum-exp [B, Hq, T]; backward recomputes the probabilities from it (FlashAttention's trick), using q, k, v, o.
    /// </summary>
    public static Var Attention(this Tape tape, Var q, Var k, Var v, float? scale = null)
    {
        using var _ = tape.Profile("attention");
        var be = tape.Backend;
        float s = scale ?? 1f / MathF.Sqrt(q.Value.Dim(-1));
        var o = Tensor.Empty(be, q.Value.ShapeArray());
        var lse = Tensor.Empty(be, q.Value.Dim(0), q.Value.Dim(2), q.Value.Dim(1));
        be.Attention(q.Value, k.Value, v.Value, s, o, lse);
        Var? output = null;
        output = tape.Record("attention", o, [q, k, v], dO =>
        {
            using var dq = Gradients.Scratch(q);
            using var dk = Gradients.Scratch(k);
            using var dv = Gradients.Scratch(v);
            be.AttentionBackward(q.Value, k.Value, v.Value, output!.Value, lse, dO, s, dq, dk, dv);
            Gradients.AccumulateCopy(q, dq);
            Gradients.AccumulateCopy(k, dk);
            Gradients.AccumulateCopy(v, dv);
        }, lse);
        return output;
    }
}
