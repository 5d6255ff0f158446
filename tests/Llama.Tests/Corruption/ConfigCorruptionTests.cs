using System.Text;
using System.Text.Json.Nodes;
using LoRAM.Llama.Tests.Support;

namespace LoRAM.Llama.Tests.Corruption;

/// <summary>
/// Generated corruptions of a valid config.json: each required field missing, every size field of the wrong JSON kind,
/// zero or negative, inconsistent head counts, malformed rope_scaling, truncations and garbage. Each must fail with a
/// one-line <see cref="LlamaFormatException"/> naming the file and the field.
/// </summary>
public sealed class ConfigCorruptionTests
{
    private static readonly string Valid = TinyLlama.Config(new TinyLlamaOptions()).ToJson();

    /// <summary>A corruption: the corrupt bytes and what the message must mention besides the file's path.</summary>
    public delegate (byte[] Bytes, string[] Mentions) Corruption();

    private static Corruption Text(string text, params string[] mentions) => () => (Encoding.UTF8.GetBytes(text), mentions);

    private static Corruption Edit(Action<JsonObject> edit, params string[] mentions) => () =>
    {
        var o = (JsonObject)JsonNode.Parse(Valid)!;
        edit(o);
        return (Encoding.UTF8.GetBytes(o.ToJsonString()), mentions);
    };

    private static Corruption Set(string field, JsonNode? value, params string[] mentions) => Edit(o => o[field] = value, [field, .. mentions]);

    private static readonly string[] Required = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"];
    private static readonly string[] Sizes = [.. Required, "num_key_value_heads", "head_dim", "max_position_embeddings"];

    public static readonly IReadOnlyDictionary<string, Corruption> Cases = Build();

    private static Dictionary<string, Corruption> Build()
    {
        var c = new Dictionary<string, Corruption>();
        foreach (var f in Required) c[$"{f}_missing"] = Edit(o => o.Remove(f), f, "missing");
        foreach (var f in Required) c[$"{f}_null"] = Set(f, null, "missing");
        foreach (var f in Sizes)
        {
            c[$"{f}_zero"] = Set(f, 0);
            c[$"{f}_negative"] = Set(f, -4);
            c[$"{f}_a_string"] = Set(f, "32", "integer");
            c[$"{f}_fractional"] = Set(f, 32.5, "integer");
            c[$"{f}_an_array"] = Set(f, new JsonArray(32), "integer");
        }
        c["hidden_size_an_object"] = Set("hidden_size", new JsonObject { ["value"] = 32 }, "integer");
        c["hidden_size_a_boolean"] = Set("hidden_size", true, "integer");
        c["hidden_size_beyond_int32"] = Set("hidden_size", 1e12, "integer");
        c["heads_not_dividing_hidden_size"] = Edit(o => { o.Remove("head_dim"); o["hidden_size"] = 30; }, "num_attention_heads", "hidden_size");
        c["kv_heads_not_dividing_heads"] = Set("num_key_value_heads", 3, "num_attention_heads");
        c["more_kv_heads_than_heads"] = Set("num_key_value_heads", 8, "num_attention_heads");
        c["odd_head_dim"] = Set("head_dim", 7, "even");
        c["rms_norm_eps_zero"] = Set("rms_norm_eps", 0);
        c["rms_norm_eps_a_string"] = Set("rms_norm_eps", "1e-5", "number");
        c["rope_theta_negative"] = Set("rope_theta", -10000);
        c["rope_theta_a_string"] = Set("rope_theta", "10000", "number");
        c["rope_scaling_a_number"] = Set("rope_scaling", 8, "object");
        c["rope_scaling_a_string"] = Set("rope_scaling", "llama3", "object");
        c["rope_scaling_unknown_type"] = Set("rope_scaling", new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4 }, "yarn");
        c["rope_scaling_without_type"] = Set("rope_scaling", new JsonObject { ["factor"] = 4 }, "(missing)");
        JsonObject Llama3() => new() { ["rope_type"] = "llama3", ["factor"] = 8, ["low_freq_factor"] = 1, ["high_freq_factor"] = 4, ["original_max_position_embeddings"] = 32 };
        foreach (var f in new[] { "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings" })
        {
            c[$"rope_scaling_{f}_missing"] = Edit(o => { var s = Llama3(); s.Remove(f); o["rope_scaling"] = s; }, "rope_scaling", f);
            c[$"rope_scaling_{f}_a_string"] = Edit(o => { var s = Llama3(); s[f] = "8"; o["rope_scaling"] = s; }, f);
        }
        c["rope_scaling_low_above_high"] = Edit(o => { var s = Llama3(); s["low_freq_factor"] = 5; o["rope_scaling"] = s; }, "rope_scaling", "low_freq_factor");
        c["rope_scaling_factor_zero"] = Edit(o => { var s = Llama3(); s["factor"] = 0; o["rope_scaling"] = s; }, "rope_scaling", "factor");
        c["eos_token_id_a_string"] = Set("eos_token_id", "</s>", "integer");
        c["eos_token_id_array_with_a_string"] = Set("eos_token_id", new JsonArray(257, "x"), "integer");
        c["eos_token_id_outside_the_vocabulary"] = Set("eos_token_id", 259, "vocabulary");
        c["bos_token_id_negative"] = Set("bos_token_id", -1, "vocabulary");
        c["bos_token_id_fractional"] = Set("bos_token_id", 1.5, "integer");
        c["tie_word_embeddings_a_string"] = Set("tie_word_embeddings", "yes", "true or false");
        c["torch_dtype_a_number"] = Set("torch_dtype", 16, "string");
        c["attention_bias_true"] = Set("attention_bias", true, "not supported");
        c["layer_heads_of_the_wrong_length"] = Set("loram_layer_heads", new JsonArray(4), "num_hidden_layers");
        c["layer_heads_negative"] = Set("loram_layer_heads", new JsonArray(4, -1), "non-negative");
        c["layer_heads_not_an_array"] = Set("loram_layer_heads", 4, "array");
        c["layer_heads_not_a_multiple_of_kv_heads"] = Set("loram_layer_heads", new JsonArray(4, 3), "layer 1");
        c["a_field_given_twice"] = Text(Valid.TrimEnd()[..^1] + ", \"hidden_size\": 64}", "not valid JSON", "hidden_size");
        c["root_an_array"] = Text("[]", "JSON object");
        c["root_a_string"] = Text("\"llama\"", "JSON object");
        c["root_null"] = Text("null", "JSON object");
        c["empty_file"] = Text("", "not valid JSON");
        c["only_white_space"] = Text(" \n\t\n", "not valid JSON");
        c["python_dict_syntax"] = Text("{'hidden_size': 32}", "not valid JSON");
        c["binary_garbage"] = () => { var b = new byte[512]; new Random(3).NextBytes(b); return (b, ["not valid JSON"]); };
        for (int k = 1; k <= 12; k++)
        {
            int cut = Valid.Length * k / 13;
            c[$"truncated_at_{k}_thirteenths"] = Text(Valid[..cut], "not valid JSON");
        }
        return c;
    }

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Corrupt_config_fails_with_one_line_naming_the_file_and_the_field(string name)
    {
        using var dir = new TempFolder();
        var path = dir.File(ModelFolder.Config);
        var (bytes, mentions) = Cases[name]();
        File.WriteAllBytes(path, bytes);
        Rejection.Expect<LlamaFormatException>(() => LlamaConfig.Load(path), [path, .. mentions]);
    }

    [Fact]
    public void The_uncorrupted_config_loads()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File(ModelFolder.Config), Valid);
        Assert.Equal(32, LlamaConfig.Load(dir.File(ModelFolder.Config)).HiddenSize);
    }

    [Fact]
    public void A_missing_config_or_a_folder_in_its_place_names_the_path()
    {
        using var dir = new TempFolder();
        Rejection.Expect<LlamaFormatException>(() => LlamaConfig.Load(dir.File("config.json")), dir.File("config.json"));
        Directory.CreateDirectory(dir.File("config.json"));
        Rejection.Expect<LlamaFormatException>(() => LlamaConfig.Load(dir.File("config.json")), dir.File("config.json"));
    }
}
