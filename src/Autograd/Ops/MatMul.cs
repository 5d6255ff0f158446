using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Batched matrix product C = op(A)·op(B), op(X) = Xᵀ when flagged; A [.., m, k], B [.., k, n] or broadcast [k, n].
    /// Backward (from C = A·B, dA = dC·Bᵀ, dB = Aᵀ·dC, transposing both sides where op is a transpose):
    /// dA = dC·op(B)ᵀ, or op(B)·dCᵀ when transA;  dB = op(A)ᵀ·dC, or dCᵀ·op(A) when transB.
    /// A broadcast B sums its gradient over the batch.
    /// </summary>
    public static Var MatMul(this Tape tape, Var a, Var b, bool transA = false, bool transB = false)
    {
        using var _ = tape.Profile("matmul");
        var be = tape.Backend;
        var sa = a.Value.ShapeArray();
        int m = transA ? sa[^1] : sa[^2];
        int n = transB ? b.Value.Dim(-2) : b.Value.Dim(-1);
        var sc = (int[])sa.Clone();
        sc[^2] = m; sc[^1] = n;
        var c = Tensor.Empty(be, sc);
        be.Gemm(a.Value, transA, b.Value, transB, c);
        int batch = checked((int)(a.Value.Length / (sa[^1] * (long)sa[^2])));
        bool broadcastB = b.Value.Rank == 2 && batch > 1;
        return tape.Record("matmul", c, [a, b], dc =>
        {
            Gradients.AccumulateGemm(a, (da, beta) =>
            {
                if (!transA) be.Gemm(dc, false, b.Value, !transB, da, 1f, beta);
                else be.Gemm(b.Value, transB, dc, true, da, 1f, beta);
            });
            Gradients.AccumulateGemm(b, (db, beta) =>
            {
                if (!broadcastB)
                {
                    if (!transB) be.Gemm(a.Value, !transA, dc, false, db, 1f, beta);
                    else be.Gemm(dc, true, a.Value, transA, db, 1f, beta);
                    return;
                }
                // B was shared by every batch entry: its gradient is the sum of the per-entry gradients.
                for (int i = 0; i < batch; i++)
                {
                    using var ai = a.Value.View((long)i * sa[^2] * sa[^1], sa[^2], sa[^1]);
                    using var dci = dc.View((long)i * m * n, m, n);
                    float bi = i == 0 ? beta : 1f;
                    if (!transB) be.Gemm(ai, !transA, dci, false, db, 1f, bi);
                    else be.Gemm(dci, true, ai, transA, db, 1f, bi);
                }
            });
        });
    }
}
