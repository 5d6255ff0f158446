using System.Buffers.Binary;
using System.Text;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Llama.Tests;

/// <summary>Safetensors files: bit-exact round trips of every dtype, sharding, zero-copy mapping, and corrupt files.</summary>
public class SafetensorsTests
{
    private static float[] Random(int n, int seed)
    {
        var r = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray();
    }

    [Fact]
    public void Every_dtype_round_trips_bit_exactly_with_metadata()
    {
        using var cpu = new CpuBackend(1);
        using var dir = new TempFolder();
        var f32 = Random(12, 1);
        var bf16 = Random(10, 2).Select(BFloat16.FromSingle).ToArray();
        var f16 = Random(6, 3).Select(x => BitConverter.HalfToUInt16Bits((Half)x)).ToArray();
        int[] i32 = [-5, 0, 7, int.MaxValue];
        byte[] u8 = [0, 1, 2, 255, 128];
        long[] i64 = [-3, 0, 1L << 30, 42];

        using var a = Tensor.FromArray(cpu, f32, 3, 4);
        using var b = Tensor.FromSpan<ushort>(cpu, bf16, DType.BF16, 2, 5);
        using var c = Tensor.FromSpan<ushort>(cpu, f16, DType.F16, 6);
        using var d = Tensor.FromArray(cpu, i32, 4);
        using var e = Tensor.FromSpan<byte>(cpu, u8, DType.U8, 5);
        var w = new SafetensorsWriter();
        w.Add("a.f32", a); w.Add("b.bf16", b); w.Add("c.f16", c); w.Add("d.i32", d); w.Add("e.u8", e);
        w.Add("f.i64", "I64", [2, 2], System.Runtime.InteropServices.MemoryMarshal.AsBytes(i64.AsSpan()).ToArray());
        w.Metadata["format"] = "pt";
        var path = dir.File("all.safetensors");
        w.Save(path);
        Assert.False(File.Exists(path + ".tmp"));

        // Header length is a multiple of 8 and padded with spaces.
        var raw = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(raw);
        Assert.Equal(0, n % 8);
        Assert.EndsWith("}", Encoding.UTF8.GetString(raw, 8, (int)n).TrimEnd(' '));

        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(6, file.Entries.Count);
        using (var t = file.Load(cpu, "a.f32")) { Assert.Equal([3, 4], t.ShapeArray()); Assert.Equal(f32, t.ToArray<float>()); }
        using (var t = file.Load(cpu, "b.bf16")) { Assert.Equal(DType.BF16, t.DType); Assert.Equal(bf16, t.ToArray<ushort>()); }
        using (var t = file.Load(cpu, "c.f16")) { Assert.Equal(DType.F16, t.DType); Assert.Equal(f16, t.ToArray<ushort>()); }
        using (var t = file.Load(cpu, "d.i32")) Assert.Equal(i32, t.ToArray<int>());
        using (var t = file.Load(cpu, "e.u8")) Assert.Equal(u8, t.ToArray<byte>());
        using (var t = file.Load(cpu, "f.i64")) { Assert.Equal(DType.I32, t.DType); Assert.Equal([2, 2], t.ShapeArray()); Assert.Equal(i64.Select(x => (int)x), t.ToArray<int>()); }
        // Every tensor starts at a multiple of its element size, so it can be used in place.
        foreach (var entry in file.Entries) Assert.Equal(0, entry.Begin % SafetensorsEntryElementSize(entry.DTypeName));
        // Conversion on request: BF16 widens exactly to F32.
        using (var t = file.Load(cpu, "b.bf16", DType.F32)) Assert.Equal(bf16.Select(BFloat16.ToSingle), t.ToArray<float>());
    }

    private static int SafetensorsEntryElementSize(string dtype) => dtype switch { "I64" => 8, "F32" or "I32" => 4, "BF16" or "F16" => 2, _ => 1 };

    [Fact]
    public void Cpu_loads_are_zero_copy_views_of_the_mapping_that_outlive_the_reader()
    {
        using var cpu = new CpuBackend(1);
        using var dir = new TempFolder();
        var data = Random(4096, 4);
        using (var t = Tensor.FromArray(cpu, data, 64, 64))
        {
            var w = new SafetensorsWriter();
            w.Add("w", t);
            w.Save(dir.File("m.safetensors"));
        }
        cpu.TrimPool();
        cpu.ResetPeak();
        Tensor loaded;
        using (var file = SafetensorsFile.Open(dir.File("m.safetensors")))
            loaded = file.Load(cpu, "w");
        using (loaded)
        {
            Assert.False(loaded.Storage.Pooled);
            Assert.Equal(0, cpu.Memory.PeakLiveBytes);   // no pool bytes: the tensor is the mapped file
            Assert.Equal(data, loaded.ToArray<float>()); // still readable after the reader was disposed
            using var row = loaded.Slice(3, 1);
            Assert.Equal(data[(3 * 64)..(4 * 64)], row.ToArray<float>());
        }
        Assert.Equal(0, cpu.Memory.PeakLiveBytes);
    }

    [Fact]
    public void Other_backends_receive_a_copy()
    {
        using var cpu = new CpuBackend(1);
        using var ilgpu = IlgpuBackend.CreateCpu();
        using var dir = new TempFolder();
        var data = Random(30, 5).Select(BFloat16.FromSingle).ToArray();
        using (var t = Tensor.FromSpan<ushort>(cpu, data, DType.BF16, 5, 6))
        {
            var w = new SafetensorsWriter();
            w.Add("w", t);
            w.Save(dir.File("m.safetensors"));
        }
        using var file = SafetensorsFile.Open(dir.File("m.safetensors"));
        using var onDevice = file.Load(ilgpu, "w");
        Assert.Same(ilgpu, onDevice.Backend);
        Assert.Equal(data, onDevice.ToArray<ushort>());
    }

    [Fact]
    public void Sharded_checkpoint_splits_at_the_limit_and_reads_back_through_the_index()
    {
        using var cpu = new CpuBackend(1);
        using var dir = new TempFolder();
        var tensors = Enumerable.Range(0, 5).Select(i => ($"layer.{i}.weight", Tensor.FromArray(cpu, Random(100, 10 + i), 10, 10))).ToList();
        try
        {
            var files = SafetensorsWriter.SaveSharded(dir.Path, tensors, maxShardBytes: 900, new Dictionary<string, string> { ["format"] = "pt" });
            // 400 bytes each, at most 900 per shard: 2 + 2 + 1.
            Assert.Equal(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"], files);
            var index = File.ReadAllText(dir.File("model.safetensors.index.json"));
            Assert.Contains("\"total_size\": 2000", index);
            Assert.Contains("\"weight_map\"", index);
            using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
            Assert.Equal(3, ckpt.Files.Count);
            Assert.Equal(tensors.Select(t => t.Item1).Order(), ckpt.Names.Order());
            foreach (var (name, t) in tensors)
                using (var back = ckpt.Load(cpu, name)) Assert.Equal(t.ToArray<float>(), back.ToArray<float>());
            Assert.EndsWith("model-00003-of-00003.safetensors", ckpt.FileOf("layer.4.weight").Path);

            // Everything fits: one file, and the stale index is removed.
            Assert.Equal(["model.safetensors"], SafetensorsWriter.SaveSharded(dir.Path, tensors, maxShardBytes: 1 << 20));
            Assert.False(File.Exists(dir.File("model.safetensors.index.json")));
            using var single = SafetensorsCheckpoint.Open(dir.Path);
            Assert.Single(single.Files);
        }
        finally { foreach (var (_, t) in tensors) t.Dispose(); }
    }

    // ---- corrupt files ----------------------------------------------------------------------------

    private static byte[] FileWith(string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, h.Length);
        h.CopyTo(bytes, 8);
        return bytes;
    }

    public static TheoryData<string, string> CorruptFiles => new()
    {
        { "short", "fewer than the 8-byte header length" },
        { "header-past-end", "truncated" },
        { "bad-json", "not valid JSON" },
        { "offsets-out-of-range", "out of range" },
        { "size-mismatch", "needs 16" },
        { "unknown-dtype", "unknown dtype 'F128'" },
        { "huge-header", "implausible" },
    };

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void Corrupt_files_fail_with_a_message_naming_the_file(string kind, string expected)
    {
        using var dir = new TempFolder();
        var path = dir.File(kind + ".safetensors");
        byte[] bytes = kind switch
        {
            "short" => [1, 2, 3],
            "header-past-end" => FileWith("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 16)[..30],
            "bad-json" => FileWith("""{"w":{"dtype":"F32",""", 0),
            "offsets-out-of-range" => FileWith("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8),
            "size-mismatch" => FileWith("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}""", 16),
            "unknown-dtype" => FileWith("""{"w":{"dtype":"F128","shape":[4],"data_offsets":[0,16]}}""", 16),
            "huge-header" => BitConverter.GetBytes(long.MaxValue).Concat(new byte[8]).ToArray(),
            _ => throw new ArgumentException(kind),
        };
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<LlamaFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Missing_shard_and_missing_tensor_are_named()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("model.safetensors.index.json"), """{"metadata":{"total_size":16},"weight_map":{"w":"model-00001-of-00002.safetensors"}}""");
        var e = Assert.Throws<LlamaFormatException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("model-00001-of-00002.safetensors", e.Message);
        Assert.Contains("missing", e.Message);

        File.WriteAllBytes(dir.File("model-00001-of-00002.safetensors"), FileWith("""{"v":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 16));
        e = Assert.Throws<LlamaFormatException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("'w'", e.Message);
    }
}
