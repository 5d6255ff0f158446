namespace LoRAM.Tensors.Cpu;

/// <summary>
/// The SIMD CPU backend: kernels are C# over raw host memory, vectorised with System.Numerics.Tensors
/// <c>TensorPrimitives</c> or Vector256/Vector512 intrinsics, and spread over <see cref="Threads"/> cores.
/// The kernels are split by family over the partial files beside this one.
/// </summary>
public sealed unsafe partial class CpuBackend : Backend
{
    /// <param name="threads">Worker threads; default <c>LORAM_THREADS</c>, else every core.</param>
    public CpuBackend(int? threads = null)
    {
        Threads = Math.Max(1, threads ?? ThreadsFromEnvironment());
        Parallel = new ParallelOptions { MaxDegreeOfParallelism = Threads };
    }

    public override string Name => "cpu";

    /// <summary>Number of worker threads the kernels use.</summary>
    public int Threads { get; }

    internal ParallelOptions Parallel { get; }

    public static int ThreadsFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("LORAM_THREADS"), out var n) && n > 0 ? n : Environment.ProcessorCount;

    protected override Storage AllocateStorage(long bytes) => new CpuStorage(this, bytes);

    public override Storage Borrow(IntPtr pointer, long bytes, IDisposable? owner) => new CpuStorage(this, pointer, bytes, owner);

    /// <summary>Address of the first element of <paramref name="t"/>.</summary>
    internal static T* Ptr<T>(Tensor t) where T : unmanaged
    {
        t.ThrowIfDisposed();
        return (T*)(((CpuStorage)t.Storage).Pointer + t.Offset * t.DType.Size());
    }

    internal static Span<T> Span<T>(Tensor t) where T : unmanaged => new(Ptr<T>(t), checked((int)(t.Bytes / sizeof(T))));

    protected override void UploadCore(ReadOnlySpan<byte> source, Tensor destination) =>
        source.CopyTo(new Span<byte>(Ptr<byte>(destination), (int)destination.Bytes));

    protected override void DownloadCore(Tensor source, Span<byte> destination) =>
        new ReadOnlySpan<byte>(Ptr<byte>(source), (int)source.Bytes).CopyTo(destination);

    protected override void CopyCore(Tensor source, Tensor destination) =>
        Buffer.MemoryCopy(Ptr<byte>(source), Ptr<byte>(destination), destination.Bytes, source.Bytes);

    public override void Clear(Tensor tensor) => new Span<byte>(Ptr<byte>(tensor), checked((int)tensor.Bytes)).Clear();

    protected override void FillCore(Tensor tensor, float value) => Span<float>(tensor).Fill(value);

    public override void Synchronize() { }
}
