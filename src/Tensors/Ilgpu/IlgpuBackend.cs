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
        Name = name;
    }

    public override string Name { get; }

    internal Accelerator Accelerator { get; }

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
    public static IlgpuBackend CreateCpu()
    {
        var context = Context.Create(b => b.CPU().EnableAlgorithms().Optimize(OptimizationLevel.O1));
        return new IlgpuBackend(context, context.CreateCPUAccelerator(0), "ilgpu-cpu");
    }

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

    public override void Upload(ReadOnlySpan<byte> source, Tensor destination)
    {
        if (source.Length != destination.Bytes) throw new ArgumentException($"upload of {source.Length} bytes into a tensor of {destination.Bytes}");
        View<byte>(destination).CopyFromCPU(source);
    }

    public override void Download(Tensor source, Span<byte> destination)
    {
        if (destination.Length != source.Bytes) throw new ArgumentException($"download of a tensor of {source.Bytes} bytes into {destination.Length}");
        Accelerator.Synchronize();
        View<byte>(source).CopyToCPU(destination);
    }

    public override void Copy(Tensor source, Tensor destination)
    {
        if (source.Bytes != destination.Bytes) throw new ArgumentException($"copy of {source.Bytes} bytes into {destination.Bytes}");
        View<byte>(source).CopyTo(View<byte>(destination));
    }

    public override void Clear(Tensor tensor) => View<byte>(tensor).MemSetToZero();

    public override void Synchronize() => Accelerator.Synchronize();

    public override void Dispose()
    {
        base.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
