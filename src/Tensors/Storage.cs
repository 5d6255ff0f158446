namespace LoRAM.Tensors;

/// <summary>A block of device memory that one or more <see cref="Tensor"/> views share. Reference-counted:
/// the last view to be disposed hands the block back to its backend's pool (or to its external owner, for
/// memory-mapped files).</summary>
public abstract class Storage : IDisposable
{
    private int _refs = 1;

    protected Storage(Backend backend, long bytes)
    {
        Backend = backend;
        Bytes = bytes;
    }

    public Backend Backend { get; }

    /// <summary>Size of the block in bytes.</summary>
    public long Bytes { get; }

    /// <summary>True when the block belongs to the backend's pool (false for mapped files and other borrowed memory).</summary>
    public abstract bool Pooled { get; }

    /// <summary>Taken again from the pool: one view holds it.</summary>
    internal void Revive() => Volatile.Write(ref _refs, 1);

    internal void AddRef()
    {
        if (Interlocked.Increment(ref _refs) <= 1)
            throw new ObjectDisposedException(nameof(Storage), "a view was taken of a tensor whose storage was already released");
    }

    /// <summary>Drops the caller's reference (e.g. the one <see cref="Backend.Borrow"/> returns once views were taken with
    /// <see cref="Tensor.FromStorage"/>); the memory goes when the last view goes.</summary>
    public void Dispose() => Release();

    internal void Release()
    {
        int left = Interlocked.Decrement(ref _refs);
        if (left == 0) Backend.Return(this);
        else if (left < 0) throw new ObjectDisposedException(nameof(Storage), "storage released twice");
    }

    /// <summary>Frees the memory for good (called by the pool when it trims, or at once for borrowed memory).</summary>
    protected internal abstract void Free();
}
