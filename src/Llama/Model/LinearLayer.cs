using LoRAM.Autograd;
using LoRAM.Tensors;

namespace LoRAM.Llama.Model;

/// <summary>
/// One linear projection of the model, y = x·Wᵀ, under its Hugging Face weight name. The model reaches every
/// projection through this slot, so a method can swap the implementation in place — a frozen weight for LoRA
/// (PEFT's idea of replacing <c>nn.Linear</c> modules), a trainable one for full-parameter training, an NF4 one
/// for QLoRAM — without the model knowing.
/// </summary>
public abstract class LinearLayer : IDisposable
{
    protected LinearLayer(string name) => Name = name;

    /// <summary>The weight's name in the checkpoint, e.g. <c>model.layers.0.self_attn.q_proj.weight</c>.</summary>
    public string Name { get; }
    public abstract int InFeatures { get; }
    public abstract int OutFeatures { get; }

    /// <summary>y = x·Wᵀ (plus whatever the layer adds); x [.., in], y [.., out].</summary>
    public abstract Var Forward(Tape tape, Var x);

    /// <summary>The layer's trainable parameters (none for a frozen layer).</summary>
    public virtual IEnumerable<Var> Parameters => [];

    /// <summary>The frozen weight, if the layer has one (for memory accounting and for wrapping in LoRA).</summary>
    public virtual FrozenWeight? Frozen => null;

    /// <summary>The dense weight [out, in] as it would be saved, or null when it is not stored densely (NF4).</summary>
    public abstract Tensor? DenseWeight { get; }

    public abstract void Dispose();
}

/// <summary>A projection whose weight is frozen (F32, BF16, F16 or NF4): no gradient, only dX flows back.</summary>
public sealed class FrozenLinear : LinearLayer
{
    /// <summary>Takes ownership of <paramref name="weight"/>.</summary>
    public FrozenLinear(string name, FrozenWeight weight) : base(name) => Weight = weight;

    public FrozenWeight Weight { get; }
    public override int InFeatures => Weight.InFeatures;
    public override int OutFeatures => Weight.OutFeatures;
    public override FrozenWeight? Frozen => Weight;
    public override Tensor? DenseWeight => (Weight as DenseFrozenWeight)?.Weight;
    public override Var Forward(Tape tape, Var x) => tape.Linear(x, Weight);
    public override void Dispose() => Weight.Dispose();
}

/// <summary>A projection trained in full (pre-training, alignment): W is an F32 parameter and gets dW.</summary>
public sealed class TrainableLinear : LinearLayer
{
    private readonly bool _ownsWeight;

    /// <summary>Wraps <paramref name="weight"/> [out, in]; disposes it with the layer when <paramref name="ownsWeight"/>
    /// (a tied LM head shares the embedding's parameter and does not own it).</summary>
    public TrainableLinear(string name, Var weight, bool ownsWeight = true) : base(name)
    {
        Weight = weight;
        _ownsWeight = ownsWeight;
    }

    public Var Weight { get; }
    public override int InFeatures => Weight.Value.Dim(1);
    public override int OutFeatures => Weight.Value.Dim(0);
    public override IEnumerable<Var> Parameters => _ownsWeight ? [Weight] : [];
    public override Tensor? DenseWeight => Weight.Value;
    public override Var Forward(Tape tape, Var x) => tape.Linear(x, Weight);
    public override void Dispose()
    {
        if (_ownsWeight) Weight.Dispose();
    }
}
