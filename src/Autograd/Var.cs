using LoRAM.Tensors;

namespace LoRAM.Autograd;

/// <summary>
/// A value in the computation graph: a <see cref="Tensor"/>, whether it wants a gradient, and that gradient.
/// Leaves are parameters (<see cref="Parameter"/>) or constants (<see cref="Constant"/>); every other Var is the
/// output of an op, owned by the <see cref="Tape"/> that recorded it. The gradient buffer is allocated the first
/// time a gradient arrives, so a frozen value never has one.
/// </summary>
public sealed class Var : IDisposable
{
    private Tensor? _value;

    internal Var(Tensor value, bool requiresGrad, string? name, bool isLeaf)
    {
        _value = value;
        RequiresGrad = requiresGrad;
        Name = name;
        IsLeaf = isLeaf;
    }

    /// <summary>A trainable leaf: gradients accumulate into <see cref="Grad"/> (F32 only). Takes ownership of <paramref name="value"/>.</summary>
    public static Var Parameter(Tensor value, string? name = null)
    {
        if (value.DType != DType.F32) throw new ArgumentException($"a trainable parameter must be F32, not {value.DType}");
        return new Var(value, true, name, isLeaf: true);
    }

    /// <summary>A leaf that never gets a gradient (inputs, frozen tables, masks). Takes ownership of <paramref name="value"/>.</summary>
    public static Var Constant(Tensor value, string? name = null) => new(value, false, name, isLeaf: true);

    /// <summary>The tensor. Throws once the tape has freed it (intermediates are freed during <see cref="Tape.Backward"/>
    /// unless <see cref="Retain"/> was called).</summary>
    public Tensor Value => _value ?? throw new ObjectDisposedException(Name ?? "Var", "this intermediate value was freed by the tape; call Retain() to keep it");

    public bool RequiresGrad { get; }

    /// <summary>dLoss/dValue, F32 with the value's shape; null until a gradient arrives (always null for frozen values).</summary>
    public Tensor? Grad { get; internal set; }

    public string? Name { get; set; }

    /// <summary>True for parameters and constants; false for op outputs.</summary>
    public bool IsLeaf { get; }

    /// <summary>Keeps this intermediate's value (and gradient) alive through <see cref="Tape.Backward"/>, until the tape releases its graph.</summary>
    public Var Retain() { Retained = true; return this; }

    internal bool Retained { get; private set; }

    internal bool HasValue => _value is not null;

    public Backend Backend => Value.Backend;
    public ReadOnlySpan<int> Shape => Value.Shape;

    /// <summary>The first element as a float (e.g. a scalar loss). Waits for the device.</summary>
    public float Item()
    {
        using var first = Value.View(0, 1);
        return first.ToFloatArray()[0];
    }

    /// <summary>Drops the gradient buffer (the next gradient allocates a fresh one).</summary>
    public void ZeroGrad()
    {
        Grad?.Dispose();
        Grad = null;
    }

    internal void FreeValue()
    {
        _value?.Dispose();
        _value = null;
    }

    public void Dispose()
    {
        FreeValue();
        ZeroGrad();
    }

    public override string ToString() => $"Var {Name ?? "?"} {(_value?.ToString() ?? "(freed)")}{(RequiresGrad ? " requires grad" : "")}";
}
