using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

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
/// <para>Pages a process has read stay in its resident set for as long as the mapping lives, even when nothing will
/// read them again: a BF16 projection quantized to NF4, a tensor converted to F32, a borrowed weight already
/// disposed. <see cref="DropPages"/> gives such a range back (Linux <c>madvise(MADV_DONTNEED)</c>; the pages are
/// re-read from the file if touched again, which is exact because nothing writes them), so the resident set
/// holds what the run still uses and the planner can predict it.</para>
/// </remarks>
internal sealed unsafe partial class MappedRegion
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

    /// <summary>A reference that releases itself once when disposed (handed to <c>Backend.Borrow</c> as the owner); on
    /// release, the pages wholly inside [<paramref name="offset"/>, +<paramref name="length"/>) leave the resident set.</summary>
    public IDisposable Lease(long offset = 0, long length = 0)
    {
        if (Interlocked.Increment(ref _refs) <= 1) throw new ObjectDisposedException(nameof(MappedRegion));
        return new LeaseHandle(this, offset, length);
    }

    /// <summary>Takes the pages wholly inside [<paramref name="offset"/>, +<paramref name="length"/>) out of this process's
    /// resident set (pages shared with a neighbouring range are left). A no-op off Linux, where the OS reclaims
    /// clean file pages under pressure on its own.</summary>
    public void DropPages(long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0 || Volatile.Read(ref _refs) <= 0) return;
        long page = Environment.SystemPageSize;
        long start = (long)Pointer + offset, end = start + length;
        long first = (start + page - 1) / page * page, last = end / page * page;
        if (last > first) _ = Madvise((nint)first, (nuint)(last - first), MadviseDontNeed);   // advisory: a failure only keeps pages resident
    }

    private const int MadviseDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);

    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    private sealed class LeaseHandle(MappedRegion region, long offset, long length) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            region.DropPages(offset, length);
            region.Release();
        }
    }
}
