using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Safetensors;

/// <summary>
/// A memory-mapped <c>.safetensors</c> file: an 8-byte little-endian header length N, N bytes of JSON
/// <c>{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}</c>, then the data
/// section the offsets point into. On the CPU backend tensors are zero-copy views of the mapping
/// (<see cref="Backend.Borrow"/>); on other backends they are copied to the device.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>Largest header the reference implementation accepts (100 MB).</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private readonly MappedRegion _region;
    private readonly Dictionary<string, SafetensorsEntry> _entries;
    private readonly long _dataStart;
    private int _disposed;

    private SafetensorsFile(string path, MappedRegion region, long dataStart, List<SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _region = region;
        _dataStart = dataStart;
        Entries = entries;
        _entries = entries.ToDictionary(e => e.Name);
        Metadata = metadata;
    }

    public string Path { get; }

    /// <summary>Header records in file order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public bool Contains(string name) => _entries.ContainsKey(name);

    public SafetensorsEntry this[string name] =>
        _entries.TryGetValue(name, out var e) ? e : throw LlamaFormatException.In(Path, $"no tensor named '{name}'");

    /// <summary>Maps the file and checks its header before anything is read through it: a header length that fits the
    /// file, a JSON object without duplicate names, known dtypes, non-negative shapes, every byte range the size its
    /// dtype and shape imply, and byte ranges that tile the data section exactly (no overlap, no gap, nothing after
    /// the last tensor), as the reference implementation requires. Throws <see cref="LlamaFormatException"/> naming
    /// the file and, where there is one, the tensor.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (Directory.Exists(path)) throw LlamaFormatException.In(path, "is a folder, not a safetensors file");
        if (!File.Exists(path)) throw LlamaFormatException.In(path, "file not found");
        long length = LengthOf(path);
        if (length < 8) throw LlamaFormatException.In(path, $"truncated safetensors file: {length} bytes, fewer than the 8-byte header length");

        MappedRegion region;
        try { region = new MappedRegion(path, length); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw LlamaFormatException.In(path, $"cannot map ({e.Message})", e); }
        try
        {
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(region.Pointer, 8));
            if (n > MaxHeaderBytes) throw LlamaFormatException.In(path, $"header length {n} is implausible (over {MaxHeaderBytes} bytes): not a safetensors file, or corrupt");
            if ((long)n > length - 8) throw LlamaFormatException.In(path, $"truncated safetensors file: header of {n} bytes but only {length - 8} bytes follow the length");
            var header = new ReadOnlySpan<byte>(region.Pointer + 8, (int)n);
            long dataStart = 8 + (long)n;
            var (entries, metadata) = ParseHeader(path, header, length - dataStart);
            CheckTiling(path, entries, length - dataStart);
            return new SafetensorsFile(path, region, dataStart, entries, metadata);
        }
        catch { region.Release(); throw; }
    }

    /// <summary>
    /// Bytes of the file <paramref name="path"/> names, through any symbolic links: Hugging Face's hub cache keeps
    /// <c>snapshots/&lt;rev&gt;/model.safetensors</c> as a relative link to <c>../../blobs/&lt;hash&gt;</c>, and
    /// <c>FileInfo.Length</c> is the link's own size (a few dozen bytes). The length is read from an open handle, so it
    /// is the size of exactly what gets mapped.
    /// </summary>
    internal static long LengthOf(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
            return RandomAccess.GetLength(handle);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A dangling link: name where it points, which is what the person has to fix.
            string? target = null;
            try { target = File.ResolveLinkTarget(path, returnFinalTarget: false)?.FullName; }
            catch (Exception inner) when (inner is IOException or UnauthorizedAccessException) { }
            throw LlamaFormatException.In(path, target is null ? $"cannot read ({e.Message})" : $"is a link to {target}, which cannot be read ({e.Message})", e);
        }
    }

    private static (List<SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> header, long dataBytes)
    {
        // JsonDocument checks UTF-8 only when a name is read, and then throws InvalidOperationException: check first.
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw LlamaFormatException.In(path, "header is not valid UTF-8 text");
        JsonDocument doc;
        // The header was checked against the file size above, so this copy is at most the file's own size.
        try { doc = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw LlamaFormatException.In(path, $"header is not valid JSON ({e.Message})", e); }
        catch (InvalidOperationException e) { throw LlamaFormatException.In(path, "header: " + JsonText.Describe(JsonText.InvalidPropertyName), e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw LlamaFormatException.In(path, "header is not a JSON object");
            if (JsonText.FindInvalidString(doc.RootElement) is { } bad) throw LlamaFormatException.In(path, "header: " + JsonText.Describe(bad));
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw LlamaFormatException.In(path, "__metadata__ must be an object of strings");
                    foreach (var m in p.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : throw LlamaFormatException.In(path, $"__metadata__ value '{m.Name}' is not a string");
                    continue;
                }
                entries.Add(ParseEntry(path, p, dataBytes));
            }
            return (entries, metadata);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, JsonProperty p, long dataBytes)
    {
        LlamaFormatException Bad(string what) => LlamaFormatException.In(path, $"tensor '{p.Name}': {what}");
        var v = p.Value;
        if (v.ValueKind != JsonValueKind.Object) throw Bad("header record is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad("missing 'dtype'");
        string dtype = dt.GetString()!;
        int size = SafetensorsEntry.ElementSize(dtype) ?? throw Bad($"unknown dtype '{dtype}'");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad("missing 'shape'");
        var shape = new int[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
            shape[i++] = d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out var x) && x >= 0 ? x : throw Bad($"shape entry {d} is not a non-negative 32-bit integer");
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad("missing 'data_offsets' [begin, end]");
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number ||
            !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end))
            throw Bad($"data_offsets {off.GetRawText()} are not 64-bit integers");
        if (begin < 0 || end < begin || end > dataBytes)
            throw Bad($"data_offsets [{begin}, {end}] out of range of the {dataBytes}-byte data section (file truncated or corrupt)");
        long expected;
        try { expected = checked(Tensor.Elements(shape) * size); }
        catch (OverflowException) { throw Bad("shape too large"); }
        if (end - begin != expected)
            throw Bad($"data_offsets span {end - begin} bytes but {dtype}[{string.Join(", ", shape)}] needs {expected}");
        return new SafetensorsEntry(p.Name, dtype, shape, begin, end);
    }

    /// <summary>Byte ranges must tile the data section: sorted by offset, each tensor starts where the previous one ends,
    /// the first at 0 and the last ending at the end of the file. Overlapping tensors would alias each other's weights,
    /// and a gap or tail means the header and the data disagree (a truncated or spliced file).</summary>
    private static void CheckTiling(string path, List<SafetensorsEntry> entries, long dataBytes)
    {
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long at = 0;
        SafetensorsEntry? previous = null;
        foreach (var e in sorted)
        {
            if (e.Begin < at)
                throw LlamaFormatException.In(path, $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous!.Name}' [{previous.Begin}, {previous.End}]");
            if (e.Begin > at)
                throw LlamaFormatException.In(path, $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] leave {e.Begin - at} unclaimed bytes after {(previous is null ? "the header" : $"tensor '{previous.Name}'")} (file corrupt)");
            at = e.End;
            previous = e;
        }
        if (at != dataBytes)
            throw LlamaFormatException.In(path, $"{dataBytes - at} bytes follow the last tensor's data (ends at {at} of a {dataBytes}-byte data section): the header does not describe this file");
    }

    /// <summary>The raw bytes of a tensor, straight from the mapping (valid while this file is open).</summary>
    public ReadOnlySpan<byte> RawBytes(string name)
    {
        var e = this[name];
        ThrowIfDisposed();
        if (e.Bytes > int.MaxValue) throw new InvalidOperationException($"{Path}: tensor '{name}' is over 2 GiB; load it as a tensor instead");
        return new ReadOnlySpan<byte>(_region.Pointer + _dataStart + e.Begin, (int)e.Bytes);
    }

    /// <summary>
    /// Index of the first NaN or ±Inf element of float tensor <paramref name="name"/> (F32, BF16 or F16), with the count
    /// of such elements, or null when every element is finite (other dtypes: null). One pass over the mapped bytes:
    /// an element is non-finite exactly when its exponent bits are all ones, tested a vector of elements at a time.
    /// </summary>
    public (long First, long Count)? FindNonFinite(string name)
    {
        var e = this[name];
        ThrowIfDisposed();
        byte* p = _region.Pointer + _dataStart + e.Begin;
        try
        {
            return e.DType switch
            {
                DType.F32 => NonFinite.Find((uint*)p, e.Elements, 0x7F80_0000u),
                DType.BF16 => NonFinite.Find((ushort*)p, e.Elements, (ushort)0x7F80),
                DType.F16 => NonFinite.Find((ushort*)p, e.Elements, (ushort)0x7C00),
                _ => null,
            };
        }
        // The scan is not a use: a model loaded for NF4 would otherwise hold every BF16 page until the last one is
        // quantized. What reads the tensor later faults its pages back in (from the page cache when memory allows).
        finally { _region.DropPages(_dataStart + e.Begin, e.Bytes); }
    }

    /// <summary>Throws <see cref="LlamaFormatException"/> naming the file and tensor when it holds a NaN or ±Inf
    /// (<see cref="FindNonFinite"/>): weights that are not numbers turn every result into NaN downstream, where the
    /// cause can no longer be seen.</summary>
    public void RequireFinite(string name)
    {
        if (FindNonFinite(name) is var (first, count))
            throw LlamaFormatException.In(Path, $"tensor '{name}' holds {count} NaN/Inf value{(count == 1 ? "" : "s")} (the first at element {first}): the weights are corrupt");
    }

    /// <summary>True when tensor <paramref name="name"/> here and <paramref name="otherName"/> in <paramref name="other"/>
    /// hold the same bytes (compared straight from the mappings, a chunk at a time: no size limit, no copy).</summary>
    internal bool SameBytes(string name, SafetensorsFile other, string otherName)
    {
        SafetensorsEntry a = this[name], b = other[otherName];
        ThrowIfDisposed();
        other.ThrowIfDisposed();
        if (a.Bytes != b.Bytes) return false;
        byte* pa = _region.Pointer + _dataStart + a.Begin, pb = other._region.Pointer + other._dataStart + b.Begin;
        const int Chunk = 1 << 30;
        for (long at = 0; at < a.Bytes; at += Chunk)
        {
            int count = (int)Math.Min(Chunk, a.Bytes - at);
            if (!new ReadOnlySpan<byte>(pa + at, count).SequenceEqual(new ReadOnlySpan<byte>(pb + at, count))) return false;
        }
        return true;
    }

    /// <summary>
    /// The tensor <paramref name="name"/> on <paramref name="backend"/>, in its stored dtype (BF16 stays 2 bytes per
    /// element) unless <paramref name="dtype"/> asks for a conversion. I64 is narrowed to I32 (values must fit).
    /// On <see cref="CpuBackend"/> a tensor in its stored dtype is a zero-copy view of the mapping and takes no pool
    /// memory; it must be treated as read-only (frozen weights are never written).
    /// </summary>
    public Tensor Load(Backend backend, string name, DType? dtype = null)
    {
        var e = this[name];
        ThrowIfDisposed();
        byte* p = _region.Pointer + _dataStart + e.Begin;
        DType? stored = e.DTypeName == "I64" ? null
            : e.DType ?? throw LlamaFormatException.In(Path, $"tensor '{name}': dtype {e.DTypeName} is not supported (F32, F16, BF16, I32, U8, I64 are)");
        if (stored is DType t && (dtype ?? t) == t && backend is CpuBackend) return Borrow(backend, p, e, t);
        // Read once into a tensor of its own: the mapped pages are not needed again, so they leave the resident set.
        try
        {
            if (stored is null) return NarrowI64(backend, e, p);
            return dtype is DType want && want != stored ? Converted(backend, e, p, stored.Value, want) : Copy(backend, p, e.Bytes, stored.Value, e.Shape);
        }
        finally { _region.DropPages(_dataStart + e.Begin, e.Bytes); }
    }

    /// <summary>Float conversion on the host, chunk by chunk from the mapping, so no full-size float32 copy is
    /// ever materialised beside the result (F32 ↔ BF16 ↔ F16; round to nearest even).</summary>
    private Tensor Converted(Backend backend, SafetensorsEntry e, byte* p, DType from, DType to)
    {
        static bool IsFloat(DType d) => d is DType.F32 or DType.BF16 or DType.F16;
        if (!IsFloat(from) || !IsFloat(to))
            throw new ArgumentException($"{Path}: tensor '{e.Name}' cannot be converted from {from} to {to} (only between F32, BF16 and F16)");
        var result = Tensor.Empty(backend, to, e.Shape);
        try
        {
            using var flat = result.Reshape(-1);
            const int Chunk = 1 << 20;
            var buffer = new byte[(long)Math.Min(Chunk, Math.Max(1, e.Elements)) * to.Size()];
            for (long at = 0; at < e.Elements; at += Chunk)
            {
                int count = (int)Math.Min(Chunk, e.Elements - at);
                var dst = buffer.AsSpan(0, count * to.Size());
                HostConvert.Run(from, p + at * from.Size(), to, dst, count);
                using var part = flat.View(at, count);
                backend.Upload(dst, part);
            }
            return result;
        }
        catch { result.Dispose(); throw; }
    }

    /// <summary>A zero-copy view; when its last reference goes, its pages leave the resident set.</summary>
    private Tensor Borrow(Backend backend, byte* p, SafetensorsEntry e, DType dtype)
    {
        var storage = backend.Borrow((IntPtr)p, Math.Max(e.Bytes, 1), _region.Lease(_dataStart + e.Begin, e.Bytes));
        using (storage) return Tensor.FromStorage(storage, 0, dtype, e.Shape);
    }

    private static Tensor Copy(Backend backend, byte* p, long bytes, DType dtype, int[] shape)
    {
        var t = Tensor.Empty(backend, dtype, shape);
        try
        {
            // Upload in chunks: a span holds at most 2 GiB and one embedding can be larger.
            int size = dtype.Size();
            long chunk = (1L << 30) / size, n = bytes / size;
            if (n <= chunk) backend.Upload(new ReadOnlySpan<byte>(p, (int)bytes), t);
            else
                for (long at = 0; at < n; at += chunk)
                {
                    int count = (int)Math.Min(chunk, n - at);
                    using var part = t.Reshape(-1).View(at, count);
                    backend.Upload(new ReadOnlySpan<byte>(p + at * size, count * size), part);
                }
            return t;
        }
        catch { t.Dispose(); throw; }
    }

    private Tensor NarrowI64(Backend backend, SafetensorsEntry e, byte* p)
    {
        var src = new ReadOnlySpan<long>(p, checked((int)e.Elements));
        var ints = new int[src.Length];
        for (int i = 0; i < ints.Length; i++)
        {
            long v = src[i];
            if (v < int.MinValue || v > int.MaxValue) throw LlamaFormatException.In(Path, $"tensor '{e.Name}': I64 value {v} at index {i} does not fit in I32");
            ints[i] = (int)v;
        }
        return Tensor.FromSpan<int>(backend, ints, DType.I32, e.Shape);
    }

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException(Path);
    }

    /// <summary>Drops this reader's hold on the mapping; tensors already loaded keep it alive until they are disposed.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _region.Release();
    }
}
