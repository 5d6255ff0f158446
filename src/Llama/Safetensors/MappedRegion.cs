using System.IO.MemoryMappedFiles;

namespace LoRAM.Llama.Safetensors;

/// <summary>
/// A whole file mapped into the address space, copy-on-write, and reference-counted: the reader holds one
/// reference and every tensor borrowed from it holds one more, so weights stay valid after the reader is
/// disposed and the mapping goes when the last of them goes.
/// </summary>
/// <remarks>
/// Frozen base weights are never written by the engine. The mapping is copy-on-write rather than read-only so
/// that a stray write could never reach the checkpoint on disk (it would only dirty a private page); the
/// file itself is opened read-only and shared for reading and deletion.
/// </remarks>
internal sealed unsafe class MappedRegion
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private int _refs = 1;

    public MappedRegion(string path, long length)
    {
        Length = length;
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        try
        {
            _file = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.CopyOnWrite, HandleInheritability.None, leaveOpen: false);
        }
        catch { fs.Dispose(); throw; }
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.CopyOnWrite);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        Pointer = p + _view.PointerOffset;
    }

    public byte* Pointer { get; }
    public long Length { get; }

    /// <summary>A reference that releases itself once when disposed (handed to <c>Backend.Borrow</c> as the owner).</summary>
    public IDisposable Lease()
    {
        if (Interlocked.Increment(ref _refs) <= 1) throw new ObjectDisposedException(nameof(MappedRegion));
        return new LeaseHandle(this);
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    private sealed class LeaseHandle(MappedRegion region) : IDisposable
    {
        private int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) region.Release(); }
    }
}
