using System.Runtime.InteropServices;

namespace LoRAM.Tensors;

/// <summary>
/// A dense, row-major, contiguous n-dimensional array living on one <see cref="Backend"/>.
/// A tensor is a view: (storage, element offset, shape, dtype). Reshapes and slices along the first
/// dimension are free and share the storage; the storage goes back to the backend's pool when its last
/// view is disposed. Nothing here computes: kernels live on the backends.
/// </summary>
public sealed class Tensor : IDisposable
{
    private readonly int[] _shape;
    private int _disposed;

    internal Tensor(Storage storage, long offset, DType dtype, int[] shape)
    {
        Storage = storage;
        Offset = offset;
        DType = dtype;
        _shape = shape;
        Length = Elements(shape);
        if (checked((offset + Length) * dtype.Size()) > storage.Bytes)
            throw new ArgumentException($"view of {Length} {dtype} at offset {offset} exceeds storage of {storage.Bytes} bytes");
    }

    public Storage Storage { get; }
    public Backend Backend => Storage.Backend;

    /// <summary>Offset of the first element in the storage, in elements of <see cref="DType"/>.</summary>
    public long Offset { get; }
    public DType DType { get; }
    public ReadOnlySpan<int> Shape => _shape;
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Number of bytes the elements occupy.</summary>
    public long Bytes => Length * DType.Size();

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Size of dimension <paramref name="i"/>; negative counts from the end.</summary>
    public int Dim(int i) => _shape[i < 0 ? _shape.Length + i : i];

    /// <summary>Rows when viewed as a matrix: the product of every dimension but the last.</summary>
    public int Rows => Rank == 0 ? 1 : checked((int)(Length / Math.Max(1, _shape[^1])));

    /// <summary>The last dimension.</summary>
    public int Cols => Rank == 0 ? 1 : _shape[^1];

    public int[] ShapeArray() => (int[])_shape.Clone();

    public override string ToString() => $"Tensor<{DType}>[{string.Join(", ", _shape)}] on {Backend.Name}";

    // ---- creation -------------------------------------------------------------------------------

    /// <summary>A view of existing storage (e.g. a memory-mapped checkpoint borrowed with <see cref="Backend.Borrow"/>).
    /// Takes one reference on <paramref name="storage"/>; the caller keeps its own.</summary>
    public static Tensor FromStorage(Storage storage, long elementOffset, DType dtype, params int[] shape)
    {
        storage.AddRef();
        try { return new Tensor(storage, elementOffset, dtype, (int[])shape.Clone()); }
        catch { storage.Release(); throw; }
    }

    /// <summary>An uninitialised tensor from the backend's pool.</summary>
    public static Tensor Empty(Backend backend, DType dtype, params int[] shape)
    {
        var s = (int[])shape.Clone();
        long n = Elements(s);
        return new Tensor(backend.Allocate(Math.Max(1, n * dtype.Size())), 0, dtype, s);
    }

    public static Tensor Empty(Backend backend, params int[] shape) => Empty(backend, DType.F32, shape);

    public static Tensor Zeros(Backend backend, DType dtype, params int[] shape)
    {
        var t = Empty(backend, dtype, shape);
        backend.Clear(t);
        return t;
    }

    public static Tensor Zeros(Backend backend, params int[] shape) => Zeros(backend, DType.F32, shape);

    public static Tensor Full(Backend backend, float value, params int[] shape)
    {
        var t = Empty(backend, DType.F32, shape);
        backend.Fill(t, value);
        return t;
    }

    /// <summary>Copies host data into a new tensor of the element type <typeparamref name="T"/>
    /// (float → F32, int → I32, byte → U8, ushort needs an explicit <paramref name="dtype"/> of BF16 or F16).</summary>
    public static Tensor FromSpan<T>(Backend backend, ReadOnlySpan<T> data, DType dtype, params int[] shape) where T : unmanaged
    {
        var t = Empty(backend, dtype, shape);
        if (Marshal.SizeOf<T>() * (long)data.Length != t.Bytes)
            throw new ArgumentException($"{data.Length} host elements of {typeof(T).Name} do not fill a {dtype} tensor of shape [{string.Join(", ", shape)}]");
        backend.Upload(MemoryMarshal.AsBytes(data), t);
        return t;
    }

    public static Tensor FromArray(Backend backend, float[] data, params int[] shape) => FromSpan<float>(backend, data, DType.F32, shape);
    public static Tensor FromArray(Backend backend, int[] data, params int[] shape) => FromSpan<int>(backend, data, DType.I32, shape);

    // ---- views ----------------------------------------------------------------------------------

    /// <summary>Same elements, another shape (one dimension may be -1). Shares storage.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var s = (int[])shape.Clone();
        int infer = Array.IndexOf(s, -1);
        if (infer >= 0)
        {
            long rest = 1;
            for (int i = 0; i < s.Length; i++) if (i != infer) rest *= s[i];
            if (rest == 0 || Length % rest != 0) throw new ArgumentException($"cannot reshape [{string.Join(", ", _shape)}] to [{string.Join(", ", shape)}]");
            s[infer] = checked((int)(Length / rest));
        }
        if (Elements(s) != Length) throw new ArgumentException($"cannot reshape [{string.Join(", ", _shape)}] to [{string.Join(", ", shape)}]");
        return View(0, s);
    }

    /// <summary>Entries <paramref name="start"/> .. <paramref name="start"/>+<paramref name="count"/> along the first dimension. Shares storage.</summary>
    public Tensor Slice(int start, int count)
    {
        if (Rank == 0) throw new InvalidOperationException("cannot slice a scalar");
        if (start < 0 || count < 0 || start + count > _shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + count}) of dimension 0 of size {_shape[0]}");
        var s = (int[])_shape.Clone();
        s[0] = count;
        long inner = Length / Math.Max(1, _shape[0]);
        return View(start * inner, s);
    }

    /// <summary>A contiguous view of <paramref name="shape"/> starting <paramref name="elementOffset"/> elements into this tensor. Shares storage.</summary>
    public Tensor View(long elementOffset, params int[] shape)
    {
        ThrowIfDisposed();
        if (elementOffset < 0 || elementOffset + Elements(shape) > Length)
            throw new ArgumentOutOfRangeException(nameof(elementOffset), $"view [{elementOffset}, +{Elements(shape)}) outside a tensor of {Length} elements");
        Storage.AddRef();
        return new Tensor(Storage, Offset + elementOffset, DType, (int[])shape.Clone());
    }

    // ---- data movement --------------------------------------------------------------------------

    /// <summary>Copies the elements to the host as <typeparamref name="T"/> (the raw bits; no conversion).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        ThrowIfDisposed();
        if (Bytes % Marshal.SizeOf<T>() != 0) throw new ArgumentException($"{Bytes} bytes are not a whole number of {typeof(T).Name}");
        var result = new T[Bytes / Marshal.SizeOf<T>()];
        Backend.Download(this, MemoryMarshal.AsBytes(result.AsSpan()));
        return result;
    }

    /// <summary>The elements as float32 on the host, converting from BF16/F16/I32 where needed.</summary>
    public float[] ToFloatArray()
    {
        switch (DType)
        {
            case DType.F32: return ToArray<float>();
            case DType.I32: return Array.ConvertAll(ToArray<int>(), i => (float)i);
            case DType.U8: return Array.ConvertAll(ToArray<byte>(), b => (float)b);
            default:
                using (var f = Cast(DType.F32)) return f.ToArray<float>();
        }
    }

    /// <summary>A new tensor with the elements converted to <paramref name="dtype"/> (F32 ↔ BF16/F16; round to nearest even).</summary>
    public Tensor Cast(DType dtype)
    {
        var t = Empty(Backend, dtype, _shape);
        if (dtype == DType) Backend.Copy(this, t);
        else Backend.Convert(this, t);
        return t;
    }

    /// <summary>A copy of this tensor on another backend.</summary>
    public Tensor To(Backend backend)
    {
        if (backend == Backend) { var c = Empty(backend, DType, _shape); Backend.Copy(this, c); return c; }
        var bytes = ToArray<byte>();
        var t = Empty(backend, DType, _shape);
        backend.Upload(bytes, t);
        return t;
    }

    /// <summary>A deep copy on the same backend.</summary>
    public Tensor Clone() => To(Backend);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Storage.Release();
    }

    internal void ThrowIfDisposed()
    {
        if (IsDisposed) throw new ObjectDisposedException(ToString());
    }

    public static long Elements(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension {d}");
            n = checked(n * d);
        }
        return n;
    }
}
