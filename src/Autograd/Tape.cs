using LoRAM.Tensors;

namespace LoRAM.Autograd;

/// <summary>
/// Records the ops of one forward pass and runs them backwards (micrograd's idea, on tensors). Ops are recorded
/// in execution order, which is already a topological order, so <see cref="Backward"/> walks the record once in
/// reverse, calling each node's backward closure when its output received a gradient. As it goes it frees each
/// node's saved tensors, the output's gradient and (unless retained) the output's value, so activation memory
/// falls while the backward pass runs. Leaves (parameters, constants) are never freed by the tape.
/// </summary>
public sealed class Tape : IDisposable
{
    private readonly List<Node> _nodes = new();
    private readonly List<Var> _owned = new();
    private int _noGradDepth;

    public Tape(Backend backend, OpProfiler? profiler = null)
    {
        Backend = backend;
        Profiler = profiler;
    }

    public Backend Backend { get; }

    /// <summary>Per-op timings, when set and enabled.</summary>
    public OpProfiler? Profiler { get; set; }

    /// <summary>Sampled when <see cref="Backward"/> starts (activations at their peak) and ends.</summary>
    public MemoryLedger? Ledger { get; set; }

    /// <summary>False inside a <see cref="NoGrad"/> scope: ops record nothing and save nothing.</summary>
    public bool GradEnabled => _noGradDepth == 0;

    /// <summary>Number of recorded nodes waiting for a backward pass.</summary>
    public int NodeCount => _nodes.Count;

    /// <summary>A scope in which ops run for inference: no node is recorded, outputs need no gradient.</summary>
    public IDisposable NoGrad()
    {
        _noGradDepth++;
        return new Scope(() => _noGradDepth--);
    }

    /// <summary>
    /// Back-propagates from <paramref name="root"/>: dRoot = <paramref name="seed"/> (default 1 for a single-element root),
    /// then every recorded node in reverse order. Leaf gradients accumulate (call <see cref="Var.ZeroGrad"/> or the
    /// optimizer's ZeroGrad between steps). The nodes recorded so far are consumed: a second call needs a new forward pass.
    /// </summary>
    public void Backward(Var root, Tensor? seed = null)
    {
        if (!root.RequiresGrad) throw new InvalidOperationException("the root does not depend on any value that requires a gradient");
        if (_nodes.Count == 0 && !root.IsLeaf)
            throw new InvalidOperationException("nothing recorded since the last backward pass (which freed the graph); run the forward pass again");
        Ledger?.Sample(Backend);
        root.Retain();
        if (seed is null)
        {
            if (root.Value.Length != 1) throw new ArgumentException("a non-scalar root needs an explicit seed gradient");
            Gradients.Accumulate(root, g => Backend.Fill(g, 1f));
        }
        else Gradients.AccumulateCopy(root, seed);

        for (int i = _nodes.Count - 1; i >= 0; i--)
        {
            var node = _nodes[i];
            var output = node.Output;
            if (output.Grad is not null)
            {
                using (Profile(node.Op, backward: true))
                    node.Backward(output.Grad);
            }
            node.FreeSaved();
            if (!output.Retained)
            {
                output.ZeroGrad();
                output.FreeValue();
            }
        }
        _nodes.Clear();
        Ledger?.Sample(Backend);
    }

    /// <summary>Frees every intermediate this tape created (values, gradients, saved tensors). Leaves are untouched.</summary>
    public void ReleaseGraph()
    {
        foreach (var n in _nodes) n.FreeSaved();
        _nodes.Clear();
        foreach (var v in _owned) v.Dispose();
        _owned.Clear();
    }

    public void Dispose() => ReleaseGraph();

    // ---- for ops ---------------------------------------------------------------------------------

    /// <summary>
    /// Wraps <paramref name="value"/> as the output of op <paramref name="op"/> with <paramref name="inputs"/>. When the
    /// tape is recording and an input needs a gradient, records <paramref name="backward"/> (called with dOutput) and
    /// the tensors it saved (freed after it runs); otherwise frees <paramref name="saved"/> at once.
    /// </summary>
    internal Var Record(string op, Tensor value, Var[] inputs, Action<Tensor> backward, params Tensor[] saved) =>
        Record(op, value, inputs.Any(v => v.RequiresGrad), backward, saved);

    /// <summary>As above, with the decision made by the caller (a checkpointed block whose parameters are hidden inside it).</summary>
    internal Var Record(string op, Tensor value, bool anyInputNeedsGrad, Action<Tensor> backward, Tensor[] saved)
    {
        bool needs = GradEnabled && anyInputNeedsGrad;
        var output = new Var(value, needs, null, isLeaf: false);
        _owned.Add(output);
        if (needs) _nodes.Add(new Node(op, output, backward, saved));
        else foreach (var t in saved) t.Dispose();
        return output;
    }

    /// <summary>A Var owned by this tape that needs no gradient (e.g. a checkpointed block's recomputed input).</summary>
    internal Var Own(Var v)
    {
        _owned.Add(v);
        return v;
    }

    /// <summary>Times a forward (or backward) op when the profiler is on; a no-op otherwise.</summary>
    internal OpProfiler.Timing Profile(string op, bool backward = false) =>
        Profiler is { Enabled: true } p ? p.Start(Backend, op, backward) : default;

    private sealed class Node(string op, Var output, Action<Tensor> backward, Tensor[] saved)
    {
        public string Op { get; } = op;
        public Var Output { get; } = output;
        public Action<Tensor> Backward { get; } = backward;

        public void FreeSaved()
        {
            foreach (var t in saved) t.Dispose();
            saved = [];
        }
    }

    private sealed class Scope(Action onDispose) : IDisposable
    {
        private Action? _onDispose = onDispose;
        public void Dispose() { _onDispose?.Invoke(); _onDispose = null; }
    }
}
