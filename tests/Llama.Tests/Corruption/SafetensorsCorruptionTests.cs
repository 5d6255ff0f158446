using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors.Cpu;
using Xunit.Abstractions;

namespace LoRAM.Llama.Tests.Corruption;

/// <summary>A valid tiny LLaMA folder written once; each case corrupts a copy of its model.safetensors.</summary>
public sealed class TinyLlamaFolder : IDisposable
{
    private readonly TempFolder _dir = new("loram-corrupt-src");

    public TinyLlamaFolder()
    {
        TinyLlama.Write(_dir.Path);
        Weights = new SafetensorsImage(File.ReadAllBytes(_dir.File(ModelFolder.Weights)));
        using var cpu = new CpuBackend(1);
        using var weights = LlamaWeights.Load(_dir.Path, cpu);
        weights.Save(Sharded, tokenizerFrom: _dir.Path, maxShardBytes: 40_000);
    }

    public string Path => _dir.Path;

    /// <summary>The same model saved as several shards with model.safetensors.index.json.</summary>
    public string Sharded => _dir.File("sharded");
    public SafetensorsImage Weights { get; }

    /// <summary>A fresh folder holding this model's config and tokenizer, and <paramref name="weights"/> as model.safetensors.</summary>
    public TempFolder CopyWith(byte[] weights)
    {
        var copy = new TempFolder("loram-corrupt");
        foreach (var f in new[] { ModelFolder.Config, "loram_tokenizer.json" }) File.Copy(_dir.File(f), copy.File(f));
        File.WriteAllBytes(copy.File(ModelFolder.Weights), weights);
        return copy;
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>A safetensors file taken apart: length, header JSON, data section, and the tensors by offset.</summary>
public sealed class SafetensorsImage
{
    public SafetensorsImage(byte[] file)
    {
        Bytes = file;
        HeaderLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        HeaderJson = Encoding.UTF8.GetString(file, 8, (int)HeaderLength);
        Data = file[(int)DataStart..];
        Tensors = Header().Where(p => p.Key != "__metadata__")
            .Select(p => (Name: p.Key, Begin: (long)p.Value!["data_offsets"]![0]!, End: (long)p.Value!["data_offsets"]![1]!))
            .OrderBy(t => t.Begin).ToList();
    }

    public byte[] Bytes { get; }
    public long HeaderLength { get; }
    public string HeaderJson { get; }
    public byte[] Data { get; }
    public long DataStart => 8 + HeaderLength;
    public IReadOnlyList<(string Name, long Begin, long End)> Tensors { get; }
    public string First => Tensors[0].Name;
    public string Middle => Tensors[Tensors.Count / 2].Name;
    public string Last => Tensors[^1].Name;

    public JsonObject Header() => (JsonObject)JsonNode.Parse(HeaderJson)!;

    /// <summary>A file with this data section and <paramref name="header"/> edited by <paramref name="edit"/>.</summary>
    public byte[] Edited(Action<JsonObject> edit)
    {
        var h = Header();
        edit(h);
        return WithHeader(h.ToJsonString());
    }

    public byte[] WithHeader(string json) => WithHeader(Encoding.UTF8.GetBytes(json));

    public byte[] WithHeader(byte[] header, byte[]? data = null) => Assemble((ulong)header.Length, header, data ?? Data);

    public static byte[] Assemble(ulong headerLength, byte[] header, byte[] data)
    {
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, headerLength);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }
}

/// <summary>
/// Generated corruptions of a valid model.safetensors — truncations, lying header lengths, header edits (dtype, shape,
/// offsets, duplicates, wrong JSON kinds), bit flips and garbage — each loaded through <see cref="LlamaWeights.Load"/>,
/// the path every command takes. Each must fail with a one-line <see cref="LlamaFormatException"/> naming the file
/// and, where one is at fault, the tensor.
/// </summary>
public sealed class SafetensorsCorruptionTests(TinyLlamaFolder model, ITestOutputHelper output) : IClassFixture<TinyLlamaFolder>
{
    /// <summary>A corruption: the corrupt bytes and what the message must mention besides the file's path.</summary>
    public delegate (byte[] Bytes, string[] Mentions) Corruption(SafetensorsImage valid);

    private static (byte[], string[]) Says(byte[] bytes, params string[] mentions) => (bytes, mentions);

    private static byte[] Truncate(byte[] b, long at) => b[..(int)at];

    private static byte[] Length(SafetensorsImage v, ulong n)
    {
        var b = (byte[])v.Bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(b, n);
        return b;
    }

    private static Corruption Tensor(Func<SafetensorsImage, string> pick, Action<JsonObject> edit, params string[] mentions) => v =>
    {
        string name = pick(v);
        return Says(v.Edited(h => edit((JsonObject)h[name]!)), [name, .. mentions]);
    };

    private static JsonArray Offsets(JsonObject t) => (JsonArray)t["data_offsets"]!;
    private static long Begin(JsonObject t) => (long)Offsets(t)[0]!;
    private static long End(JsonObject t) => (long)Offsets(t)[1]!;

    public static readonly IReadOnlyDictionary<string, Corruption> Cases = Build();

    private static Dictionary<string, Corruption> Build()
    {
        var c = new Dictionary<string, Corruption>();

        // Truncated anywhere: in the length, in the header, at and inside the data section.
        foreach (long at in new long[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 })
            c[$"truncated_at_byte_{at}"] = v => Says(Truncate(v.Bytes, at), "truncated");
        for (int k = 1; k < 8; k++)
        {
            int eighth = k;
            c[$"truncated_in_the_header_at_{eighth}_eighths"] = v => Says(Truncate(v.Bytes, 8 + v.HeaderLength * eighth / 8), "truncated");
            c[$"truncated_in_the_data_at_{eighth}_eighths"] = v => Says(Truncate(v.Bytes, v.DataStart + v.Data.Length * eighth / 8), "truncated");
        }
        c["truncated_one_byte_before_the_data"] = v => Says(Truncate(v.Bytes, v.DataStart - 1), "truncated");
        c["truncated_exactly_at_the_data"] = v => Says(Truncate(v.Bytes, v.DataStart), "truncated");
        c["truncated_one_byte_into_the_data"] = v => Says(Truncate(v.Bytes, v.DataStart + 1), "truncated");
        c["truncated_by_the_last_byte"] = v => Says(Truncate(v.Bytes, v.Bytes.Length - 1), "truncated", v.Last);

        // The header length lies.
        c["header_length_zero"] = v => Says(Length(v, 0), "not valid JSON");
        c["header_length_one"] = v => Says(Length(v, 1), "not valid JSON");
        c["header_length_one_short"] = v => Says(Length(v, (ulong)v.HeaderLength - 1));
        c["header_length_one_long"] = v => Says(Length(v, (ulong)v.HeaderLength + 1));
        c["header_length_covers_the_whole_file"] = v => Says(Length(v, (ulong)v.Bytes.Length - 8));
        c["header_length_one_past_the_file"] = v => Says(Length(v, (ulong)v.Bytes.Length - 7), "truncated");
        c["header_length_just_over_100MB"] = v => Says(Length(v, 100_000_001), "implausible");
        c["header_length_2_pow_40"] = v => Says(Length(v, 1UL << 40), "implausible");
        c["header_length_2_pow_63"] = v => Says(Length(v, 1UL << 63), "implausible");
        c["header_length_max_ulong"] = v => Says(Length(v, ulong.MaxValue), "implausible");

        // The header is not a JSON object of records.
        c["header_is_an_array"] = v => Says(v.WithHeader("[]"), "not a JSON object");
        c["header_is_a_string"] = v => Says(v.WithHeader("\"model\""), "not a JSON object");
        c["header_is_a_number"] = v => Says(v.WithHeader("42"), "not a JSON object");
        c["header_is_null"] = v => Says(v.WithHeader("null"), "not a JSON object");
        c["header_is_plain_text"] = v => Says(v.WithHeader("this is not json at all"), "not valid JSON");
        c["header_is_invalid_utf8"] = v => Says(v.WithHeader([(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}']), "UTF-8");
        c["header_has_garbage_after_the_object"] = v => Says(v.WithHeader(v.HeaderJson.TrimEnd() + "x"), "not valid JSON");
        c["header_nested_past_the_depth_limit"] = v => Says(v.WithHeader("{\"__metadata__\":" + new string('[', 100) + new string(']', 100) + "}"), "not valid JSON");
        c["header_names_a_tensor_twice"] = v =>
        {
            var first = v.Header()[v.First]!.ToJsonString();
            return Says(v.WithHeader(v.HeaderJson.TrimEnd()[..^1] + $",\"{v.First}\":{first}}}"), "not valid JSON", v.First);
        };
        c["header_empty_object_with_data_after_it"] = v => Says(v.WithHeader("{}"), "bytes follow");
        c["metadata_is_not_an_object"] = v => Says(v.Edited(h => h["__metadata__"] = "pt"), "__metadata__");
        c["metadata_value_is_not_a_string"] = v => Says(v.Edited(h => h["__metadata__"] = new JsonObject { ["format"] = 1 }), "__metadata__", "format");

        // One record lies: about itself, its dtype, its shape or its offsets.
        c["record_is_an_array"] = v => Says(v.Edited(h => h[v.Middle] = new JsonArray(1, 2)), v.Middle, "not an object");
        c["record_is_a_number"] = v => Says(v.Edited(h => h[v.First] = 7), v.First, "not an object");
        c["dtype_missing"] = Tensor(v => v.Middle, t => t.Remove("dtype"), "dtype");
        c["dtype_is_a_number"] = Tensor(v => v.First, t => t["dtype"] = 4, "dtype");
        c["dtype_unknown"] = Tensor(v => v.Middle, t => t["dtype"] = "F33", "unknown dtype 'F33'");
        c["dtype_lower_case"] = Tensor(v => v.Last, t => t["dtype"] = "f32", "unknown dtype 'f32'");
        c["dtype_half_the_stored_width"] = Tensor(v => v.First, t => t["dtype"] = "F16", "needs");
        c["dtype_twice_the_stored_width"] = Tensor(v => v.Middle, t => t["dtype"] = "F64", "needs");
        c["dtype_integer_of_the_same_width"] = Tensor(v => v.Middle, t => t["dtype"] = "I32", "dtype I32");
        c["shape_missing"] = Tensor(v => v.Middle, t => t.Remove("shape"), "shape");
        c["shape_is_a_string"] = Tensor(v => v.First, t => t["shape"] = "32", "shape");
        c["shape_negative"] = Tensor(v => v.First, t => t["shape"] = new JsonArray(-1, 32), "shape");
        c["shape_fractional"] = Tensor(v => v.Middle, t => t["shape"] = new JsonArray(1.5, 2), "shape");
        c["shape_entry_is_a_string"] = Tensor(v => v.Middle, t => t["shape"] = new JsonArray("a"), "shape");
        c["shape_beyond_int32"] = Tensor(v => v.Last, t => t["shape"] = new JsonArray(2147483648L), "shape");
        c["shape_overflowing_int64_elements"] = Tensor(v => v.First, t => t["shape"] = new JsonArray(int.MaxValue, int.MaxValue, int.MaxValue), "shape too large");
        c["shape_with_an_extra_dimension"] = Tensor(v => v.Middle, t => ((JsonArray)t["shape"]!).Add(2), "needs");
        c["shape_scalar"] = Tensor(v => v.First, t => t["shape"] = new JsonArray(), "needs");
        c["shape_off_by_one_row"] = Tensor(v => v.Last, t => { var s = (JsonArray)t["shape"]!; s[0] = (int)s[0]! + 1; }, "needs");
        c["shape_transposed_is_accepted_by_the_file_but_not_by_the_model"] = Tensor(v => v.First,
            t => { var s = (JsonArray)t["shape"]!; t["shape"] = new JsonArray((int)s[1]!, (int)s[0]!); }, "has shape");
        c["offsets_missing"] = Tensor(v => v.Middle, t => t.Remove("data_offsets"), "data_offsets");
        c["offsets_with_three_entries"] = Tensor(v => v.Middle, t => Offsets(t).Add(0), "data_offsets");
        c["offsets_are_strings"] = Tensor(v => v.First, t => t["data_offsets"] = new JsonArray("0", "4"), "data_offsets");
        c["offsets_are_fractions"] = Tensor(v => v.First, t => t["data_offsets"] = new JsonArray(0.5, 4), "data_offsets");
        c["offsets_negative"] = Tensor(v => v.First, t => t["data_offsets"] = new JsonArray(-4, End(t) - 4), "data_offsets");
        c["offsets_reversed"] = Tensor(v => v.Middle, t => t["data_offsets"] = new JsonArray(End(t), Begin(t)), "data_offsets");
        c["offsets_past_the_end"] = Tensor(v => v.Last, t => t["data_offsets"] = new JsonArray(Begin(t) + 4, End(t) + 4), "out of range");
        c["offsets_near_int64_max"] = Tensor(v => v.Middle, t => t["data_offsets"] = new JsonArray(long.MaxValue - 8, long.MaxValue), "out of range");
        c["offsets_beyond_int64"] = Tensor(v => v.Middle, t => t["data_offsets"] = new JsonArray(0, 9.3e18 * 10), "data_offsets");
        c["offsets_overlap_the_previous_tensor"] = Tensor(v => v.Middle, t => t["data_offsets"] = new JsonArray(Begin(t) - 4, End(t) - 4), "overlap");
        c["offsets_alias_the_first_tensor"] = v =>
        {
            var (name, begin, end) = v.Tensors.Skip(1).First(t => t.End - t.Begin == v.Tensors[0].End - v.Tensors[0].Begin);
            return Says(v.Edited(h => h[name]!["data_offsets"] = new JsonArray(0, end - begin)), "overlap");
        };
        c["a_middle_record_removed_leaves_a_gap"] = v =>
        {
            int i = v.Tensors.Count / 2;
            return Says(v.Edited(h => h.Remove(v.Tensors[i].Name)), "unclaimed bytes", v.Tensors[i + 1].Name);
        };
        c["the_last_record_removed_leaves_a_tail"] = v => Says(v.Edited(h => h.Remove(v.Last)), "bytes follow");
        c["the_first_record_removed_leaves_a_gap_after_the_header"] = v => Says(v.Edited(h => h.Remove(v.First)), "unclaimed bytes after the header");
        c["trailing_bytes_after_the_data"] = v => Says([.. v.Bytes, 1, 2, 3, 4], "4 bytes follow");
        c["a_tensor_renamed_is_missing_for_the_model"] = v => Says(v.Edited(h => { var r = h[v.Last]!; h.Remove(v.Last); h[v.Last + "x"] = r; }), v.Last, "no tensor");

        // Not a safetensors file at all.
        c["empty_file"] = _ => Says([], "truncated");
        c["seven_zero_bytes"] = _ => Says(new byte[7], "truncated");
        c["zeros"] = _ => Says(new byte[4096], "not valid JSON");
        c["random_bytes"] = _ => { var b = new byte[4096]; new Random(7).NextBytes(b); return Says(b); };
        c["a_json_text_file"] = _ => Says(Encoding.UTF8.GetBytes("{\"hidden_size\": 32, \"vocab_size\": 259}\n"), "implausible");
        c["a_gzip_header"] = _ => Says([0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6], "truncated");
        return c;
    }

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Corrupt_weights_fail_with_one_line_naming_the_file_and_the_tensor(string name)
    {
        var (bytes, mentions) = Cases[name](model.Weights);
        using var folder = model.CopyWith(bytes);
        using var cpu = new CpuBackend(1);
        var file = folder.File(ModelFolder.Weights);
        // A renamed tensor is the folder's fault, not the file's: the message names the folder then.
        string where = name.StartsWith("a_tensor_renamed") ? folder.Path : file;
        output.WriteLine(Rejection.Expect<LlamaFormatException>(() => LlamaWeights.Load(folder.Path, cpu).Dispose(), [where, .. mentions]));
    }

    /// <summary>Seeded single-bit flips in the length and the header. Only a flip inside a JSON string's contents (a
    /// tensor name, a metadata value) can leave a loadable file; a flip in the 8 length bytes (the data section no
    /// longer tiles exactly), in the JSON's structure, numbers or padding (a space flips to no JSON whitespace) must be
    /// refused — and every refusal is clean: one line naming the file, never another exception, never a hang.</summary>
    public static TheoryData<int> BitFlips => new(Enumerable.Range(0, 48));

    [Theory]
    [MemberData(nameof(BitFlips))]
    public void A_flipped_bit_in_the_header_loads_or_fails_with_one_line_naming_the_file(int seed)
    {
        var valid = model.Weights;
        var rng = new Random(seed);
        long position = seed < 8 ? seed : 8 + rng.NextInt64(valid.HeaderLength);
        var bytes = (byte[])valid.Bytes.Clone();
        bytes[position] ^= (byte)(1 << rng.Next(8));
        using var folder = model.CopyWith(bytes);
        using var cpu = new CpuBackend(1);
        bool mayLoad = position >= 8 && InsideJsonString(valid.Bytes, position);
        if (mayLoad) Rejection.AcceptOrReject<LlamaFormatException>(() => LlamaWeights.Load(folder.Path, cpu).Dispose(), folder.Path);
        else Rejection.Expect<LlamaFormatException>(() => LlamaWeights.Load(folder.Path, cpu).Dispose(), folder.Path);
    }

    [Fact]
    public void The_bit_flip_rows_include_flips_that_must_be_refused()
    {
        var valid = model.Weights;
        int mustReject = Enumerable.Range(0, 48).Count(seed =>
        {
            var rng = new Random(seed);
            long position = seed < 8 ? seed : 8 + rng.NextInt64(valid.HeaderLength);
            return position < 8 || !InsideJsonString(valid.Bytes, position);
        });
        Assert.True(mustReject >= 16, $"only {mustReject} of 48 rows require a refusal");
    }

    /// <summary>Whether header byte <paramref name="position"/> lies inside a string literal's contents (quotes excluded).</summary>
    private static bool InsideJsonString(byte[] file, long position)
    {
        bool inString = false, escaped = false;
        for (long i = 8; i < position; i++)
        {
            byte c = file[i];
            if (!inString) { if (c == (byte)'"') inString = true; continue; }
            if (escaped) escaped = false;
            else if (c == (byte)'\\') escaped = true;
            else if (c == (byte)'"') inString = false;
        }
        return inString && file[position] != (byte)'"';
    }

    [Fact]
    public void The_uncorrupted_copy_loads()
    {
        using var folder = model.CopyWith(model.Weights.Bytes);
        using var cpu = new CpuBackend(1);
        using var weights = LlamaWeights.Load(folder.Path, cpu);
        Assert.Equal(model.Weights.Tensors.Count, weights.Tensors.Count);
    }
}
