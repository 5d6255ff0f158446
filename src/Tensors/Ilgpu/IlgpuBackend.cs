using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace LoRAM.Tensors.Ilgpu;

/// <summary>
/// The ILGPU backend: every kernel as an ILGPU kernel, JIT-compiled to PTX on an NVIDIA GPU ("cuda") or run
/// on ILGPU's CPU accelerator ("ilgpu-cpu"), which is how the kernels are tested on machines with no GPU.
/// The kernels are split by family over the partial files beside this one; each is loaded once and cached.
/// </summary>
public sealed partial class IlgpuBackend : Backend
{
    private readonly Context _context;

    private IlgpuBackend(Context context, Accelerator accelerator, string name)
    {
        _context = context;
        Accelerator = accelerator;
        Kernels = new KernelCache(accelerator);
        Name = name;
    }

    public override string Name { get; }

    internal Accelerator Accelerator { get; }

    /// <summary>This accelerator's kernels, each loaded on first use.</summary>
    internal KernelCache Kernels { get; }

    /// <summary>True when an NVIDIA GPU and its driver are usable.</summary>
    public static bool CudaAvailable => s_cudaAvailable.Value;

    private static readonly Lazy<bool> s_cudaAvailable = new(() =>
    {
        try
        {
            using var context = Context.Create(b => b.Cuda());
            return context.GetCudaDevices().Count > 0;
        }
        catch (Exception) { return false; }
    });

    public static IlgpuBackend CreateCuda()
    {
        if (!CudaAvailable) throw new InvalidOperationException("device 'cuda' requested but no NVIDIA GPU with a working driver was found");
        var context = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(OptimizationLevel.O2));
        return new IlgpuBackend(context, context.CreateCudaAccelerator(0), "cuda");
    }

    /// <summary>ILGPU's CPU accelerator: emulated GPU threads, for testing the kernels.</summary>
    /// <remarks>Every emulated thread is a real thread of one simulated multiprocessor, so the device is as small as
    /// the kernels allow: warps of 32 (attention spreads a 128-dim head over one) and two of them (64 threads, the
    /// GEMM tile's group), one multiprocessor.</remarks>
    public static IlgpuBackend CreateCpu()
    {
        var device = new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 2, numMultiprocessors: 1);
        var context = Context.Create(b => b.CPU(device).EnableAlgorithms().Optimize(OptimizationLevel.O1));
        return new IlgpuBackend(context, context.CreateCPUAccelerator(0), "ilgpu-cpu");
    }

    private bool IsCpu => Accelerator.AcceleratorType == AcceleratorType.CPU;

    /// <summary>Threads for a grid-stride loop over <paramref name="n"/> items: enough to fill the device, never
    /// more than there are items (on the CPU accelerator each emulated thread costs about a microsecond).</summary>
    internal int StrideThreads(long n) => (int)Math.Max(1, Math.Min(n, IsCpu ? Accelerator.MaxNumThreads : Accelerator.MaxNumThreads * 2L));

    /// <summary>Threads of one group in the row kernels (one group per row); a power of two.</summary>
    internal int RowGroup => IsCpu ? 16 : KernelMath.MaxRowGroup;

    protected override Storage AllocateStorage(long bytes) => new IlgpuStorage(this, Accelerator.Allocate1D<byte>(bytes));

    public override Storage Borrow(IntPtr pointer, long bytes, IDisposable? owner)
    {
        var buffer = Accelerator.Allocate1D<byte>(Math.Max(64, (bytes + 63) & ~63L));
        unsafe { buffer.View.AsContiguous().SubView(0, bytes).CopyFromCPU(ref *(byte*)pointer, bytes); }
        owner?.Dispose();
        return new IlgpuStorage(this, buffer, pooled: false);
    }

    /// <summary>The elements of <paramref name="t"/> as a dense view of <typeparamref name="T"/>.</summary>
    internal static ArrayView<T> View<T>(Tensor t) where T : unmanaged
    {
        t.ThrowIfDisposed();
        var buffer = ((IlgpuStorage)t.Storage).Buffer ?? throw new ObjectDisposedException(t.ToString());
        long start = t.Offset * t.DType.Size();
        return buffer.View.AsContiguous().SubView(start, t.Bytes).Cast<T>();
    }

    protected override void UploadCore(ReadOnlySpan<byte> source, Tensor destination) => View<byte>(destination).CopyFromCPU(source);

    protected override void DownloadCore(Tensor source, Span<byte> destination)
    {
        Accelerator.Synchronize();
        View<byte>(source).CopyToCPU(destination);
    }

    protected override void CopyCore(Tensor source, Tensor destination) => View<byte>(source).CopyTo(View<byte>(destination));

    public override void Clear(Tensor tensor) => View<byte>(tensor).MemSetToZero();

    public override void Synchronize() => Accelerator.Synchronize();

    public override void Dispose()
    {
        base.Dispose();
        _nf4Levels?.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
