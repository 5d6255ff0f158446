using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>The label that marks a position as not trained on (prompt tokens, padding), as in Hugging Face.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>
    /// Mean token cross-entropy over the targets that are not <paramref name="ignoreIndex"/>:
    /// L = (1/N) Σ_r [lse(logits[r]) − logits[r, t_r]], N = number of kept rows. logits [.., V], targets I32 [..].
    /// Backward: dlogits[r] = dL/N · (softmax(logits[r]) − onehot(t_r)), zero for ignored rows; saves lse [rows].
    /// N is counted on the host from the targets, and dL is read back (one float) — the loss is the root anyway.
    /// </summary>
    public static Var CrossEntropy(this Tape tape, Var logits, Tensor targets, int ignoreIndex = IgnoreIndex)
    {
        using var _ = tape.Profile("cross_entropy");
        var be = tape.Backend;
        int vocab = logits.Value.Dim(-1);
        var l2 = logits.Value.Reshape(-1, vocab);
        var t1 = targets.Reshape(-1);
        int n = l2.Dim(0);
        int kept = t1.ToArray<int>().Count(t => t != ignoreIndex);
        using var losses = Tensor.Empty(be, n);
        var lse = Tensor.Empty(be, n);
        be.CrossEntropy(l2, t1, ignoreIndex, losses, lse);
        var loss = Tensor.Empty(be, 1);
        using (var row = losses.Reshape(1, n)) be.RowSum(row, loss);
        be.Scale(loss, kept == 0 ? 0f : 1f / kept, loss);
        return tape.Record("cross_entropy", loss, [logits], dy => Gradients.Accumulate(logits, dl =>
        {
            float g = dy.ToFloatArray()[0];
            using var dl2 = dl.Reshape(-1, vocab);
            be.CrossEntropyBackward(l2, t1, lse, ignoreIndex, kept == 0 ? 0f : g / kept, dl2);
        }), lse, l2, t1);
    }
}
