using LoRAM.Tensors;

namespace LoRAM.Autograd;

/// <summary>
/// How an op's backward pass hands a gradient to an input. The first contribution is written straight into a new
/// buffer; later ones (an input used twice, a parameter shared across micro-batches) are added to it, because
/// gradients of a value used several times sum. Inputs that need no gradient receive nothing.
/// </summary>
internal static class Gradients
{
    /// <summary>A kernel that overwrites its output: runs into the gradient buffer, or into a temporary that is then added.</summary>
    public static void Accumulate(Var v, Action<Tensor> write)
    {
        if (!v.RequiresGrad) return;
        var b = v.Value.Backend;
        if (v.Grad is null)
        {
            var g = Tensor.Empty(b, DType.F32, v.Value.ShapeArray());
            write(g);
            v.Grad = g;
            return;
        }
        using var t = Tensor.Empty(b, DType.F32, v.Value.ShapeArray());
        write(t);
        b.Add(v.Grad, t, v.Grad);
    }

    /// <summary>A GEMM into the gradient: beta = 0 for the first contribution, 1 afterwards (no temporary needed).</summary>
    public static void AccumulateGemm(Var v, Action<Tensor, float> gemm)
    {
        if (!v.RequiresGrad) return;
        if (v.Grad is null)
        {
            var g = Tensor.Empty(v.Value.Backend, DType.F32, v.Value.ShapeArray());
            gemm(g, 0f);
            v.Grad = g;
        }
        else gemm(v.Grad, 1f);
    }

    /// <summary>A kernel that adds into its output (scatter-add, RMSNorm's dweight): the buffer starts at zero.</summary>
    public static void AccumulateAdding(Var v, Action<Tensor> addInto)
    {
        if (!v.RequiresGrad) return;
        v.Grad ??= Tensor.Zeros(v.Value.Backend, DType.F32, v.Value.ShapeArray());
        addInto(v.Grad);
    }

    /// <summary>Adds <paramref name="g"/> (same element count) as the gradient. The first contribution shares
    /// <paramref name="g"/>'s storage when <paramref name="share"/> (no copy): only for an output gradient that is freed after
    /// its node, since later contributions to the input are added into that shared buffer.</summary>
    public static void AccumulateCopy(Var v, Tensor g, bool share = false)
    {
        if (!v.RequiresGrad) return;
        var b = v.Value.Backend;
        if (v.Grad is null)
        {
            if (share) { v.Grad = g.Reshape(v.Value.ShapeArray()); return; }
            var c = Tensor.Empty(b, DType.F32, v.Value.ShapeArray());
            b.Copy(g, c);
            v.Grad = c;
            return;
        }
        using var view = g.Reshape(v.Value.ShapeArray());
        b.Add(v.Grad, view, v.Grad);
    }

    /// <summary>A temporary for a kernel output nobody needs (e.g. dx of a constant input that a fused kernel always writes).</summary>
    public static Tensor Scratch(Var like) => Tensor.Empty(like.Value.Backend, DType.F32, like.Value.ShapeArray());
}
