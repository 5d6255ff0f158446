using System.Collections.Concurrent;
using System.Reflection;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

/// <summary>
/// Every kernel of one accelerator, compiled on first use and its launcher kept, as ILGPU's samples do — one line per
/// call site instead of a nullable delegate field per kernel:
/// <code>Kernels.Get(static a => a.LoadAutoGroupedStreamKernel&lt;Index1D, long, ArrayView&lt;float&gt;&gt;(MyKernel))(...)</code>
/// The loader lambda is the key (its method: one per call site, and one per instantiation inside a generic method), so
/// it must be <c>static</c> and name a single kernel; it runs once per accelerator.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator)
{
    private readonly ConcurrentDictionary<MethodInfo, Delegate> _launchers = new();

    /// <summary>The launcher <paramref name="load"/> returns, loading it (compiling the kernel) on the first call only.</summary>
    public TLauncher Get<TLauncher>(Func<Accelerator, TLauncher> load) where TLauncher : Delegate =>
        (TLauncher)_launchers.GetOrAdd(load.Method, static (_, s) => s.Load(s.Accelerator), (Load: load, Accelerator: accelerator));
}
