using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Tensors;

namespace LoRAM.Pruning;

/// <summary>
/// A projection slot that adds every input x it sees to a <see cref="HessianAccumulator"/> (Σ x xᵀ) and then
/// runs the projection it wraps unchanged — SparseGPT's forward hook, as a swapped-in <see cref="LinearLayer"/>.
/// It does not own the wrapped layer.
/// </summary>
internal sealed class InputRecorder(LinearLayer inner, HessianAccumulator inputs) : LinearLayer(inner.Name)
{
    public LinearLayer Inner => inner;
    public override int InFeatures => inner.InFeatures;
    public override int OutFeatures => inner.OutFeatures;
    public override Tensor? DenseWeight => inner.DenseWeight;
    public override FrozenWeight? Frozen => inner.Frozen;

    public override Var Forward(Tape tape, Var x)
    {
        var values = x.Value.ToFloatArray();
        inputs.Add(values, values.Length / InFeatures);
        return inner.Forward(tape, x);
    }

    public override void Dispose() { }
}
