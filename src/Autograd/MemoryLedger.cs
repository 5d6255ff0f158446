using LoRAM.Tensors;

namespace LoRAM.Autograd;

/// <summary>What a byte of device memory is for, as the paper's memory figures split it.</summary>
public enum MemoryCategory { FrozenF32, FrozenBF16, FrozenF16, FrozenNF4, TrainableParams, Gradients, OptimizerState, Activations }

/// <summary>
/// Live and peak device bytes by category, for trainers and reports. Frozen weights, parameters and optimizer state
/// are registered; gradients are read from the parameters' buffers; activations are what the backend holds beyond
/// all of those (saved tensors, intermediates, workspaces). Categories are measured when <see cref="Sample"/> is
/// called (the tape samples at the start and end of each backward pass, when activations peak), so peaks are peaks
/// over samples — a lower bound on the true peak, which <see cref="Backend.Memory"/> reports for the total.
/// </summary>
public sealed class MemoryLedger
{
    private readonly List<(MemoryCategory Category, Func<long> Bytes)> _fixed = new();
    // Frozen weights the backend did not allocate (memory-mapped checkpoints on the CPU): counted in their category,
    // but not part of the backend's live bytes, so they must not be subtracted from it when activations are derived.
    private readonly List<Func<long>> _outsideBackend = new();
    private readonly List<Var> _parameters = new();
    private readonly Dictionary<MemoryCategory, long> _live = new(), _peak = new();

    /// <summary>Counts a frozen weight under its storage dtype.</summary>
    public void AddFrozen(FrozenWeight w)
    {
        _fixed.Add((w.Category, () => w.Bytes));
        if (w is DenseFrozenWeight { Weight.Storage.Pooled: false }) _outsideBackend.Add(() => w.Bytes);
    }

    /// <summary>Counts a frozen tensor (embedding table, norm weight) under its dtype.</summary>
    public void AddFrozen(Tensor t)
    {
        _fixed.Add((FrozenCategory(t.DType), () => t.Bytes));
        if (!t.Storage.Pooled) _outsideBackend.Add(() => t.Bytes);
    }

    /// <summary>Bytes of registered frozen weights that live outside the backend's allocations (memory-mapped).</summary>
    public long OutsideBackendBytes => _outsideBackend.Sum(f => f());

    /// <summary>Counts trainable parameters and, as they appear, their gradients.</summary>
    public void AddParameters(IEnumerable<Var> parameters)
    {
        foreach (var p in parameters)
        {
            _parameters.Add(p);
            _fixed.Add((MemoryCategory.TrainableParams, () => p.HasValue ? p.Value.Bytes : 0));
        }
    }

    /// <summary>Counts an optimizer's state (moments, momentum buffers) as it grows.</summary>
    public void AddOptimizer(Optim.Optimizer optimizer) => _fixed.Add((MemoryCategory.OptimizerState, () => optimizer.StateBytes));

    public static MemoryCategory FrozenCategory(DType t) => t switch
    {
        DType.F32 => MemoryCategory.FrozenF32,
        DType.BF16 => MemoryCategory.FrozenBF16,
        DType.F16 => MemoryCategory.FrozenF16,
        _ => MemoryCategory.FrozenNF4,
    };

    /// <summary>Measures every category now and updates the peaks.</summary>
    public void Sample(Backend backend)
    {
        foreach (MemoryCategory c in Enum.GetValues<MemoryCategory>()) _live[c] = 0;
        foreach (var (c, bytes) in _fixed) _live[c] += bytes();
        _live[MemoryCategory.Gradients] = _parameters.Sum(p => p.Grad?.Bytes ?? 0);
        long accounted = _live.Where(kv => kv.Key != MemoryCategory.Activations).Sum(kv => kv.Value) - OutsideBackendBytes;
        _live[MemoryCategory.Activations] = Math.Max(0, backend.Memory.LiveBytes - accounted);
        foreach (var (c, v) in _live) _peak[c] = Math.Max(_peak.GetValueOrDefault(c), v);
    }

    public long Live(MemoryCategory c) => _live.GetValueOrDefault(c);
    public long Peak(MemoryCategory c) => _peak.GetValueOrDefault(c);

    /// <summary>Peaks by category, for JSON reports.</summary>
    public IReadOnlyDictionary<string, long> PeakByCategory() =>
        Enum.GetValues<MemoryCategory>().ToDictionary(c => c.ToString(), Peak);
}
