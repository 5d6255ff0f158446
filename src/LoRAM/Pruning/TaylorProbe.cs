using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Tensors;

namespace LoRAM.Pruning;

/// <summary>
/// A frozen projection standing in for one of a layer's seven while <see cref="TaylorImportance.ComputeLean"/> runs:
/// the forward pass is the frozen weight's own (stored dtype, nothing dequantized to keep), and when the backward
/// pass reaches it, it forms G = ∂L/∂W = dyᵀ·x once, reduces W ⊙ G into its saliences along the pruned axis
/// (<see cref="TaylorImportance.Salience"/>) and drops G — no gradient the size of W outlives the call. Does not own
/// the layer it wraps.
/// </summary>
internal sealed class TaylorProbe(FrozenLinear inner, Projection projection, TaylorVariant variant) : LinearLayer(inner.Name)
{
    public override int InFeatures => inner.InFeatures;
    public override int OutFeatures => inner.OutFeatures;
    public override FrozenWeight? Frozen => inner.Weight;
    public override Tensor? DenseWeight => inner.DenseWeight;

    /// <summary>One salience per row (q, k, v, gate, up) or column (o, down); null until the backward pass reached the probe.</summary>
    public double[]? Salience { get; private set; }

    public override Var Forward(Tape tape, Var x) => tape.Linear(x, inner.Weight, Observe);

    private void Observe(Tensor dy, Tensor x)
    {
        // Σ|W ⊙ G| is not a sum over passes: a second pass would need the first one's G, which is gone.
        if (Salience is not null) throw new InvalidOperationException($"{Name}: the backward pass reached the Taylor probe twice; the lean path takes the whole calibration loss in one pass");
        var be = dy.Backend;
        using var grad = Tensor.Empty(be, DType.F32, OutFeatures, InFeatures);
        be.Gemm(dy, true, x, false, grad);   // G = dyᵀ·x, as the trainable linear's dW
        Salience = TaylorImportance.Salience(inner.DenseWeight!, grad, projection, variant);   // a few rows at a time: no host copy of W or G
    }

    public override void Dispose() { }
}
