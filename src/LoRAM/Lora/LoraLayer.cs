using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Tensors;

namespace LoRAM.Lora;

/// <summary>
/// A projection with a LoRA adapter (paper Eq. 1): y = x·W0ᵀ + s·(drop(x)·Aᵀ)·Bᵀ, W0 frozen (F32, BF16 or NF4),
/// A [r, in] and B [out, r] trained. With a <see cref="Mask"/> (non-structured LoRAM, paper §3.2) the effective
/// delta is (B·A) ⊙ M, so positions pruned from W0 never receive an update.
/// </summary>
public sealed class LoraLayer : LinearLayer
{
    public LoraLayer(FrozenLinear baseLayer, Var a, Var b, float scaling, float dropout, Tensor? mask = null) : base(baseLayer.Name)
    {
        if (a.Value.Dim(1) != baseLayer.InFeatures || b.Value.Dim(0) != baseLayer.OutFeatures || a.Value.Dim(0) != b.Value.Dim(1))
            throw new ArgumentException($"{baseLayer.Name}: LoRA A [{string.Join(", ", a.Value.ShapeArray())}] and B [{string.Join(", ", b.Value.ShapeArray())}] do not fit W0 [{baseLayer.OutFeatures}, {baseLayer.InFeatures}]");
        Base = baseLayer;
        A = a;
        B = b;
        Scaling = scaling;
        Dropout = dropout;
        Mask = mask;
    }

    public FrozenLinear Base { get; }
    public Var A { get; }
    public Var B { get; }
    public float Scaling { get; }
    public float Dropout { get; }
    /// <summary>Mask M [out, in] (F32, 1 = kept) of a non-structurally pruned W0, or null.</summary>
    public Tensor? Mask { get; }
    /// <summary>Seed of this step's dropout mask; the trainer sets it each step, so a recomputed (checkpointed)
    /// forward draws the same mask.</summary>
    public ulong DropoutSeed { get; set; }
    public int Rank => A.Value.Dim(0);

    public override int InFeatures => Base.InFeatures;
    public override int OutFeatures => Base.OutFeatures;
    public override FrozenWeight? Frozen => Base.Weight;
    public override IEnumerable<Var> Parameters => [A, B];
    /// <summary>Null: an adapted layer is not one dense weight; merge the adapter to get one.</summary>
    public override Tensor? DenseWeight => null;

    public override Var Forward(Tape tape, Var x) =>
        tape.LoraLinear(x, Base.Weight, A, B, Scaling, tape.GradEnabled ? Dropout : 0f, DropoutSeed, Mask);

    /// <summary>Disposes the adapter and the base layer it wraps (the model owns both while the adapter is attached).</summary>
    public override void Dispose()
    {
        DisposeAdapter();
        Base.Dispose();
    }

    /// <summary>Disposes only A, B and the mask: the base layer goes back into the model on detach.</summary>
    internal void DisposeAdapter()
    {
        A.Dispose();
        B.Dispose();
        Mask?.Dispose();
    }
}
