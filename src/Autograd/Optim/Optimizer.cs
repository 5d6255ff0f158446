using LoRAM.Tensors;

namespace LoRAM.Autograd.Optim;

/// <summary>
/// Updates a fixed list of trainable parameters from their gradients. State (moments, momentum) is allocated on
/// the first step per parameter, and can be exported as named tensors and imported again for an exact resume.
/// Parameters whose gradient is null (unused this step) are skipped, as in torch.
/// </summary>
public abstract class Optimizer : IDisposable
{
    protected Optimizer(IReadOnlyList<Var> parameters)
    {
        foreach (var p in parameters)
            if (!p.RequiresGrad) throw new ArgumentException($"parameter {p.Name} does not require a gradient");
        Parameters = parameters;
        var names = parameters.Select(ParamName).ToList();
        if (names.Distinct().Count() != names.Count) throw new ArgumentException("parameter names must be unique for state export");
    }

    public IReadOnlyList<Var> Parameters { get; }

    /// <summary>Optimizer steps taken so far.</summary>
    public long StepCount { get; protected set; }

    /// <summary>Device bytes of the optimizer state.</summary>
    public abstract long StateBytes { get; }

    /// <summary>One update with learning rate <paramref name="lr"/>.</summary>
    public abstract void Step(float lr);

    /// <summary>Drops every gradient buffer (the next backward pass writes fresh ones).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>The state as named tensors ("step" as I32 [2] low/high words, then "&lt;param&gt;.&lt;slot&gt;"): views of the
    /// live moments, not copies (a checkpoint of a large model would otherwise double its optimizer state while it is
    /// written). The caller disposes them; they change with the next <see cref="Step"/>, so write or import them first.</summary>
    public Dictionary<string, Tensor> ExportState()
    {
        var backend = Parameters.Count > 0 ? Parameters[0].Value.Backend : throw new InvalidOperationException("no parameters");
        var d = new Dictionary<string, Tensor>
        {
            ["step"] = Tensor.FromArray(backend, [(int)(StepCount & 0xffffffff), (int)(StepCount >> 32)], 2),
        };
        foreach (var (name, t) in Slots()) d[name] = t.Reshape(t.ShapeArray());
        return d;
    }

    /// <summary>Restores state exported by <see cref="ExportState"/> (tensors are copied, the caller keeps its own).</summary>
    public void ImportState(IReadOnlyDictionary<string, Tensor> state)
    {
        var step = state["step"].ToArray<int>();
        StepCount = (uint)step[0] | ((long)step[1] << 32);
        foreach (var p in Parameters) LoadSlots(p, state);
    }

    /// <summary>Every state tensor with its export name.</summary>
    protected abstract IEnumerable<(string Name, Tensor State)> Slots();

    /// <summary>Restores the state of <paramref name="p"/> from <paramref name="state"/> (missing slots: fresh state).</summary>
    protected abstract void LoadSlots(Var p, IReadOnlyDictionary<string, Tensor> state);

    internal static string ParamName(Var p) => p.Name ?? throw new ArgumentException("optimizer parameters need names (for state export)");

    /// <summary>A fresh copy of <paramref name="source"/> on <paramref name="p"/>'s backend.</summary>
    protected static Tensor CopyFor(Var p, Tensor source)
    {
        if (source.Length != p.Value.Length) throw new ArgumentException($"state for {p.Name} has {source.Length} elements, the parameter {p.Value.Length}");
        using var t = source.To(p.Value.Backend);
        return t.Reshape(p.Value.ShapeArray());   // the view keeps the storage alive
    }

    public abstract void Dispose();
}
