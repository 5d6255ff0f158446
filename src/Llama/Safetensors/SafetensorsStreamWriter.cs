using System.Buffers.Binary;
using System.Text.Json;
using LoRAM.Tensors;

namespace LoRAM.Llama.Safetensors;

/// <summary>
/// Writes a <c>.safetensors</c> file whose tensors are known by name, dtype and shape before any of their bytes
/// exist, so the header (offsets included) goes out first and each tensor's data is then streamed in, in pieces,
/// never held whole — how a random-weight 70B folder is written on a machine with a few GB of memory. The file is
/// written to <c>name.tmp</c> and renamed into place by <see cref="Commit"/>; disposing without committing deletes it.
/// Layout as <see cref="SafetensorsWriter"/>: largest element first (stable), header padded to 8 bytes, so every tensor
/// is aligned to its element size. Write the tensors in <see cref="Entries"/> order.
/// </summary>
public sealed class SafetensorsStreamWriter : IDisposable
{
    /// <summary>One tensor of the file.</summary>
    public sealed record Entry(string Name, DType DType, int[] Shape)
    {
        public long Bytes => Tensor.Elements(Shape) * DType.Size();
    }

    private readonly string _path, _tmp;
    private FileStream? _stream;
    private int _current;
    private long _writtenOfCurrent;

    private SafetensorsStreamWriter(string path, IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            if (e.Name == "__metadata__" || !names.Add(e.Name)) throw new ArgumentException($"tensor name '{e.Name}' is reserved or repeated");
        }
        Entries = entries.OrderByDescending(e => e.DType.Size()).ToList();   // OrderBy is stable: same-size entries keep their order
        _path = Path.GetFullPath(path);
        _tmp = AtomicFile.TemporaryPath(_path);
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        _stream = new FileStream(_tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var header = Header(Entries, metadata);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        _stream.Write(len);
        _stream.Write(header);
        SkipEmpty();
    }

    /// <summary>Creates <paramref name="path"/>'s temporary file and writes the header of <paramref name="entries"/>.</summary>
    public static SafetensorsStreamWriter Create(string path, IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string>? metadata = null) =>
        new(path, entries, metadata);

    /// <summary>The tensors in file order: write their data in this order.</summary>
    public IReadOnlyList<Entry> Entries { get; }

    /// <summary>Bytes of tensor data the file holds.</summary>
    public long DataBytes => Entries.Sum(e => e.Bytes);

    /// <summary>Appends the next piece of tensor <paramref name="name"/>'s little-endian bytes (a tensor may come in
    /// several pieces; the next tensor starts once the previous one is full).</summary>
    public void Append(string name, ReadOnlySpan<byte> data)
    {
        var stream = _stream ?? throw new InvalidOperationException("the file is already committed or disposed");
        if (_current >= Entries.Count) throw new InvalidOperationException($"every tensor is complete; '{name}' is one too many");
        var entry = Entries[_current];
        if (entry.Name != name) throw new InvalidOperationException($"expected data of '{entry.Name}' next, got '{name}'");
        if (_writtenOfCurrent + data.Length > entry.Bytes)
            throw new ArgumentException($"'{name}' holds {entry.Bytes} bytes; {_writtenOfCurrent + data.Length} were given");
        stream.Write(data);
        _writtenOfCurrent += data.Length;
        if (_writtenOfCurrent == entry.Bytes) { _current++; _writtenOfCurrent = 0; SkipEmpty(); }
    }

    /// <summary>Appends the whole of tensor <paramref name="name"/> from <paramref name="t"/> (its dtype and shape must be the
    /// entry's), downloaded in chunks through <paramref name="buffer"/> (grown as needed, reusable across calls).</summary>
    public void Append(string name, Tensor t, ref byte[]? buffer)
    {
        var entry = Entries.FirstOrDefault(e => e.Name == name) ?? throw new ArgumentException($"'{name}' is not a tensor of this file");
        if (t.DType != entry.DType || !t.Shape.SequenceEqual(entry.Shape))
            throw new ArgumentException($"'{name}' is {entry.DType}[{string.Join(", ", entry.Shape)}] in the header, got {t.DType}[{string.Join(", ", t.ShapeArray())}]");
        SafetensorsWriter.Download(t, ref buffer, bytes => Append(name, bytes));
    }

    /// <summary>Flushes to disk and renames the file into place; every tensor must be complete.</summary>
    public void Commit()
    {
        var stream = _stream ?? throw new InvalidOperationException("the file is already committed or disposed");
        if (_current < Entries.Count) throw new InvalidOperationException($"'{Entries[_current].Name}' and {Entries.Count - _current - 1} more tensors are not complete");
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        _stream = null;
        File.Move(_tmp, _path, overwrite: true);
    }

    public void Dispose()
    {
        if (_stream is null) return;
        _stream.Dispose();
        _stream = null;
        try { File.Delete(_tmp); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private void SkipEmpty()
    {
        while (_current < Entries.Count && Entries[_current].Bytes == 0) _current++;
    }

    private static byte[] Header(IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string>? metadata) =>
        SafetensorsWriter.EncodeHeader(entries.Select(e => (e.Name, e.DType.SafetensorsName(), e.Shape, e.Bytes)), metadata);

    /// <summary>
    /// Hugging Face's sharding of <paramref name="entries"/> (in order, greedily, a tensor larger than the limit alone
    /// in its shard): the file name of each shard with its entries — one <c>{baseName}.safetensors</c> when everything
    /// fits, else <c>{baseName}-0000k-of-0000n.safetensors</c> (then <see cref="WriteIndex"/> writes the index).
    /// </summary>
    public static IReadOnlyList<(string File, IReadOnlyList<Entry> Entries)> PlanShards(IEnumerable<Entry> entries, long maxShardBytes, string baseName = "model")
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes));
        var shards = new List<List<Entry>>();
        long inShard = 0;
        foreach (var e in entries)
        {
            if (shards.Count == 0 || (shards[^1].Count > 0 && inShard + e.Bytes > maxShardBytes)) { shards.Add([]); inShard = 0; }
            shards[^1].Add(e);
            inShard += e.Bytes;
        }
        if (shards.Count == 0) shards.Add([]);
        if (shards.Count == 1) return [(baseName + ".safetensors", shards[0])];
        return shards.Select((s, i) => ($"{baseName}-{i + 1:D5}-of-{shards.Count:D5}.safetensors", (IReadOnlyList<Entry>)s)).ToList();
    }

    /// <summary>Writes <c>{baseName}.safetensors.index.json</c> (<c>metadata.total_size</c>, <c>weight_map</c>) for <paramref name="shards"/>.</summary>
    public static string WriteIndex(string folder, IReadOnlyList<(string File, IReadOnlyList<Entry> Entries)> shards, string baseName = "model")
    {
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long total = 0;
        foreach (var (file, entries) in shards)
            foreach (var e in entries) { weightMap[e.Name] = file; total += e.Bytes; }
        var index = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, object> { ["total_size"] = total },
            ["weight_map"] = weightMap,
        };
        var name = baseName + ".safetensors.index.json";
        AtomicFile.WriteAllText(Path.Combine(folder, name), JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true }));
        return name;
    }
}
