using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using LoRAM.Tensors;

namespace LoRAM.Llama.Safetensors;

/// <summary>
/// Collects tensors and writes them as one <c>.safetensors</c> file, atomically (<c>name.tmp</c>, then rename).
/// Tensors are laid out largest element first, then by name, and the JSON header is padded with spaces to a
/// multiple of 8 bytes, so every tensor starts at a multiple of its element size (readers can map it in place).
/// </summary>
public sealed class SafetensorsWriter
{
    private readonly List<Item> _items = new();
    private readonly HashSet<string> _names = new();

    /// <summary>Optional <c>__metadata__</c> (string to string).</summary>
    public Dictionary<string, string> Metadata { get; } = new();

    /// <summary>Bytes of tensor data added so far.</summary>
    public long DataBytes { get; private set; }

    public int Count => _items.Count;

    /// <summary>Adds a tensor (written in its own dtype). The tensor must stay alive until <see cref="Save"/>.</summary>
    public void Add(string name, Tensor tensor) => Add(new Item(name, tensor.DType.SafetensorsName(), tensor.ShapeArray(), tensor.Bytes, tensor.DType.Size(), tensor, null));

    /// <summary>Adds raw little-endian bytes of any safetensors dtype (e.g. "I64").</summary>
    public void Add(string name, string dtype, int[] shape, ReadOnlyMemory<byte> data)
    {
        int size = SafetensorsEntry.ElementSize(dtype) ?? throw new ArgumentException($"unknown safetensors dtype '{dtype}'");
        if (Tensor.Elements(shape) * size != data.Length) throw new ArgumentException($"{data.Length} bytes do not fill {dtype}[{string.Join(", ", shape)}]");
        Add(new Item(name, dtype, (int[])shape.Clone(), data.Length, size, null, data));
    }

    private void Add(Item item)
    {
        if (item.Name == "__metadata__" || !_names.Add(item.Name)) throw new ArgumentException($"tensor name '{item.Name}' is reserved or already added");
        _items.Add(item);
        DataBytes += item.Bytes;
    }

    /// <summary>Writes the file atomically.</summary>
    public void Save(string path)
    {
        var ordered = _items.OrderByDescending(i => i.ElementSize).ThenBy(i => i.Name, StringComparer.Ordinal).ToList();
        var header = Header(ordered);
        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            fs.Write(len);
            fs.Write(header);
            byte[]? buffer = null;
            foreach (var item in ordered)
            {
                if (item.Raw is { } raw) { fs.Write(raw.Span); continue; }
                WriteTensor(fs, item.Tensor!, ref buffer);
            }
        });
    }

    private byte[] Header(List<Item> ordered) => EncodeHeader(ordered.Select(i => (i.Name, i.DType, i.Shape, i.Bytes)), Metadata);

    /// <summary>The safetensors header of <paramref name="entries"/> laid out back to back in this order: the JSON
    /// (metadata first, then each tensor's dtype, shape and data offsets), space-padded to a multiple of 8 bytes.</summary>
    internal static byte[] EncodeHeader(IEnumerable<(string Name, string DType, int[] Shape, long Bytes)> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long at = 0;
            foreach (var (name, dtype, shape, bytes) in entries)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (var d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(at);
                w.WriteNumberValue(at + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                at += bytes;
            }
            w.WriteEndObject();
        }
        int n = (int)ms.Length, padded = (n + 7) & ~7;
        var header = new byte[padded];
        ms.GetBuffer().AsSpan(0, n).CopyTo(header);
        header.AsSpan(n).Fill((byte)' ');
        return header;
    }

    private static void WriteTensor(Stream fs, Tensor t, ref byte[]? buffer) => Download(t, ref buffer, fs.Write);

    /// <summary>Receives one chunk of a tensor's bytes (valid only during the call).</summary>
    internal delegate void ChunkSink(ReadOnlySpan<byte> bytes);

    /// <summary>Hands <paramref name="t"/>'s little-endian bytes to <paramref name="sink"/> in chunks of at most 64 MiB,
    /// downloaded through <paramref name="buffer"/> (grown as needed, reused across calls): no host copy per tensor, so
    /// writing a large model or checkpoint leaves no garbage the size of the model behind.</summary>
    internal static void Download(Tensor t, ref byte[]? buffer, ChunkSink sink)
    {
        const int Chunk = 64 << 20;
        if (t.Bytes == 0) return;
        if (buffer is null || buffer.Length < Math.Min(Chunk, t.Bytes)) buffer = new byte[Math.Min(Chunk, Math.Max(t.Bytes, buffer?.Length ?? 0))];
        using var flat = t.Reshape(-1);
        int size = t.DType.Size();
        long per = Chunk / size;
        for (long at = 0; at < t.Length; at += per)
        {
            int count = (int)Math.Min(per, t.Length - at);
            using var part = flat.View(at, count);
            var span = buffer.AsSpan(0, count * size);
            t.Backend.Download(part, span);
            sink(span);
        }
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> into <paramref name="folder"/> as <c>{baseName}.safetensors</c> when they fit
    /// in one shard of <paramref name="maxShardBytes"/>, else as <c>{baseName}-00001-of-0000N.safetensors</c> ... plus
    /// <c>{baseName}.safetensors.index.json</c> (<c>metadata.total_size</c>, <c>weight_map</c>), Hugging Face's layout.
    /// Shards are filled greedily in the given order; a tensor larger than the limit gets a shard of its own.
    /// Returns the file names written.
    /// </summary>
    public static IReadOnlyList<string> SaveSharded(string folder, IEnumerable<(string Name, Tensor Tensor)> tensors, long maxShardBytes,
        IReadOnlyDictionary<string, string>? metadata = null, string baseName = "model")
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes));
        Directory.CreateDirectory(folder);
        var shards = new List<SafetensorsWriter>();
        foreach (var (name, t) in tensors)
        {
            if (shards.Count == 0 || (shards[^1].Count > 0 && shards[^1].DataBytes + t.Bytes > maxShardBytes)) shards.Add(new SafetensorsWriter());
            shards[^1].Add(name, t);
        }
        if (shards.Count == 0) shards.Add(new SafetensorsWriter());
        foreach (var s in shards)
            if (metadata is not null) foreach (var (k, v) in metadata) s.Metadata[k] = v;

        var indexPath = Path.Combine(folder, baseName + ".safetensors.index.json");
        if (shards.Count == 1)
        {
            var file = baseName + ".safetensors";
            shards[0].Save(Path.Combine(folder, file));
            if (File.Exists(indexPath)) File.Delete(indexPath);   // a stale index would shadow the single file
            return [file];
        }

        var files = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long total = 0;
        for (int i = 0; i < shards.Count; i++)
        {
            var file = $"{baseName}-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            shards[i].Save(Path.Combine(folder, file));
            files.Add(file);
            total += shards[i].DataBytes;
            foreach (var item in shards[i]._items) weightMap[item.Name] = file;
        }
        var index = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, object> { ["total_size"] = total },
            ["weight_map"] = weightMap,
        };
        AtomicFile.WriteAllText(indexPath, JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true }));
        files.Add(Path.GetFileName(indexPath));
        return files;
    }

    private sealed record Item(string Name, string DType, int[] Shape, long Bytes, int ElementSize, Tensor? Tensor, ReadOnlyMemory<byte>? Raw);
}
