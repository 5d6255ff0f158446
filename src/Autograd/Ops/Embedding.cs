using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Token embedding y[i, :] = table[ids[i], :]; table [V, d] (a frozen F32/BF16/F16 constant, or a trainable F32
    /// parameter), ids I32 [n] (any shape; y gets ids' shape + [d]).
    /// Backward: dtable[ids[i], :] += dy[i, :] (repeated ids sum). A frozen table gets nothing.
    /// </summary>
    public static Var Embedding(this Tape tape, Var table, Tensor ids)
    {
        using var _ = tape.Profile("embedding");
        var be = tape.Backend;
        int d = table.Value.Dim(-1);
        var shape = ids.ShapeArray().Append(d).ToArray();
        var y = Tensor.Empty(be, shape);
        using (var flatIds = ids.Reshape(-1))
        using (var y2 = y.Reshape(-1, d))
            be.EmbeddingGather(table.Value, flatIds, y2);
        return tape.Record("embedding", y, [table], dy => Gradients.AccumulateAdding(table, dt =>
        {
            using var flatIds = ids.Reshape(-1);
            using var dy2 = dy.Reshape(-1, d);
            be.EmbeddingScatterAdd(flatIds, dy2, dt);
        }));
    }
}
