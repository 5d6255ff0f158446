using System.Diagnostics;
using LoRAM.Tensors;

namespace LoRAM.Autograd;

/// <summary>
/// Optional per-op time accounting for the benchmark's split (forward and backward separately). When enabled, each
/// timed op synchronises the device before and after, so the figures are the op's own time rather than kernel
/// launch time; that serialisation costs a little, so leave it off outside benchmarks.
/// </summary>
public sealed class OpProfiler
{
    private readonly Dictionary<string, Entry> _entries = new();

    public bool Enabled { get; set; } = true;

    /// <summary>Accumulated time of one op kind.</summary>
    public sealed record Entry(string Op)
    {
        public TimeSpan Forward { get; internal set; }
        public TimeSpan Backward { get; internal set; }
        public int ForwardCalls { get; internal set; }
        public int BackwardCalls { get; internal set; }
        public TimeSpan Total => Forward + Backward;
    }

    /// <summary>Entries ordered by total time, largest first.</summary>
    public IReadOnlyList<Entry> Entries => _entries.Values.OrderByDescending(e => e.Total).ToList();

    public TimeSpan Total => _entries.Values.Aggregate(TimeSpan.Zero, (s, e) => s + e.Total);

    /// <summary>Times an arbitrary region (e.g. the optimizer step) under <paramref name="op"/>.</summary>
    public Timing Start(Backend backend, string op, bool backward = false)
    {
        backend.Synchronize();
        return new Timing(this, backend, op, backward, Stopwatch.GetTimestamp());
    }

    private void Add(string op, bool backward, TimeSpan elapsed)
    {
        if (!_entries.TryGetValue(op, out var e)) _entries[op] = e = new Entry(op);
        if (backward) { e.Backward += elapsed; e.BackwardCalls++; }
        else { e.Forward += elapsed; e.ForwardCalls++; }
    }

    /// <summary>A running measurement; disposing it records the time. The default value measures nothing.</summary>
    public readonly struct Timing(OpProfiler? owner, Backend? backend, string? op, bool backward, long start) : IDisposable
    {
        public void Dispose()
        {
            if (owner is null) return;
            backend!.Synchronize();
            owner.Add(op!, backward, Stopwatch.GetElapsedTime(start));
        }
    }
}
