using LoRAM.Llama.Tests.Support;

namespace LoRAM.Llama.Tests;

/// <summary>config.json parsing, validation and exact parameter counts against the published model sizes.</summary>
public class LlamaConfigTests
{
    internal const string Llama2_7B = """
        {"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
         "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
         "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
         "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
         "torch_dtype": "float16", "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000}
        """;

    internal const string Llama2_13B = """
        {"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
         "hidden_size": 5120, "initializer_range": 0.02, "intermediate_size": 13824, "max_position_embeddings": 4096,
         "model_type": "llama", "num_attention_heads": 40, "num_hidden_layers": 40, "num_key_value_heads": 40,
         "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
         "torch_dtype": "float16", "use_cache": true, "vocab_size": 32000}
        """;

    internal const string Llama3_8B = """
        {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 128000,
         "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
         "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 32,
         "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": null, "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
         "use_cache": true, "vocab_size": 128256}
        """;

    internal const string Llama31_8B = """
        {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 128000,
         "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
         "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
         "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
         "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "rope_theta": 500000.0,
         "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 128256}
        """;

    internal const string TinyLlama_1_1B = """
        {"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
         "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5632, "max_position_embeddings": 2048,
         "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4,
         "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
         "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 32000}
        """;

    internal const string SmolLM_135M = """
        {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 0,
         "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576, "initializer_range": 0.02,
         "intermediate_size": 1536, "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": 9,
         "num_hidden_layers": 30, "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": true, "torch_dtype": "float32",
         "use_cache": true, "vocab_size": 49152}
        """;

    [Theory]
    [InlineData(nameof(Llama2_7B), 6_738_415_616L)]
    [InlineData(nameof(Llama2_13B), 13_015_864_320L)]
    [InlineData(nameof(Llama3_8B), 8_030_261_248L)]
    [InlineData(nameof(Llama31_8B), 8_030_261_248L)]
    [InlineData(nameof(TinyLlama_1_1B), 1_100_048_384L)]
    [InlineData(nameof(SmolLM_135M), 134_515_008L)]
    public void Parameter_count_equals_the_published_count(string model, long published)
    {
        var config = LlamaConfig.Parse(Sample(model), model);
        Assert.Equal(published, config.ParameterCount());
    }

    internal static string Sample(string name) => (string)typeof(LlamaConfigTests).GetField(name,
        System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.GetValue(null)!;

    [Fact]
    public void Llama2_defaults_fill_missing_fields()
    {
        var c = LlamaConfig.Parse(Llama2_7B);
        Assert.Equal(4096 / 32, c.HeadDim);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.Null(c.RopeScaling);
        Assert.Equal(1e-5, c.RmsNormEps);
        Assert.Equal(1, c.BosTokenId);
        Assert.Equal([2], c.EosTokenIds);
        Assert.Equal("float16", c.TorchDtype);
        Assert.False(c.TieWordEmbeddings);
        var noKv = LlamaConfig.Parse("""{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10}""");
        Assert.Equal(4, noKv.NumKeyValueHeads);
    }

    [Fact]
    public void Llama31_reads_llama3_rope_scaling_and_eos_array()
    {
        var c = LlamaConfig.Parse(Llama31_8B);
        Assert.Equal(new RopeScaling(8.0, 1.0, 4.0, 8192), c.RopeScaling);
        Assert.Equal([128001, 128008, 128009], c.EosTokenIds);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal(8, c.NumKeyValueHeads);
        Assert.Equal(131072, c.MaxPositionEmbeddings);
        // Older configs name the field "type".
        var old = LlamaConfig.Parse(Llama31_8B.Replace("\"rope_type\"", "\"type\""));
        Assert.Equal(c.RopeScaling, old.RopeScaling);
    }

    [Fact]
    public void Unknown_rope_scaling_type_is_rejected_naming_file_and_field()
    {
        var json = Llama31_8B.Replace("\"llama3\"", "\"yarn\"");
        var e = Assert.Throws<LlamaFormatException>(() => LlamaConfig.Parse(json, "/models/x/config.json"));
        Assert.Contains("/models/x/config.json", e.Message);
        Assert.Contains("rope_scaling", e.Message);
        Assert.Contains("yarn", e.Message);
    }

    [Theory]
    [InlineData("""{"num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10}""", "hidden_size")]
    [InlineData("""{"hidden_size": "wide", "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10}""", "hidden_size")]
    [InlineData("""{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 3, "intermediate_size": 128, "vocab_size": 10}""", "num_key_value_heads")]
    [InlineData("""{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10, "loram_layer_heads": [4]}""", "loram_layer_heads")]
    [InlineData("""{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 0}""", "vocab_size")]
    [InlineData("""{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10, "attention_bias": true}""", "attention_bias")]
    [InlineData("""{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10, "mlp_bias": true}""", "'mlp_bias' is true")]
    [InlineData("""{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10, "hidden_act": "gelu"}""", "'hidden_act' is \"gelu\"")]
    [InlineData("""{"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 10, "rope_scaling": {"type": "linear"}}""", "rope_scaling.factor")]
    [InlineData("""{"hidden_size": 64,""", "JSON")]
    public void Invalid_configs_fail_with_a_message_naming_file_and_field(string json, string field)
    {
        var e = Assert.Throws<LlamaFormatException>(() => LlamaConfig.Parse(json, "my/config.json"));
        Assert.StartsWith("my/config.json: ", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Pruned_per_layer_sizes_change_the_parameter_count_exactly()
    {
        var json = """
            {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 128, "vocab_size": 10, "head_dim": 16,
             "loram_layer_heads": [4, 2], "loram_layer_kv_heads": [2, 1], "loram_layer_intermediate": [128, 40]}
            """;
        var c = LlamaConfig.Parse(json);
        long layer0 = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128 + 2 * 64;
        long layer1 = 64 * 32 + 2 * 64 * 16 + 32 * 64 + 3 * 64 * 40 + 2 * 64;
        Assert.Equal(2 * 10 * 64 + layer0 + layer1 + 64, c.ParameterCount());
        Assert.Equal(2, c.HeadsAt(1));
        Assert.Equal(1, c.KvHeadsAt(1));
        Assert.Equal(40, c.IntermediateAt(1));
    }

    [Fact]
    public void Config_round_trips_through_json_with_the_same_field_names()
    {
        using var dir = new TempFolder();
        var path = dir.File("config.json");
        var original = LlamaConfig.Parse(Llama31_8B) with { LayerHeads = Enumerable.Repeat(24, 32).ToArray() };
        original.Save(path);
        var text = File.ReadAllText(path);
        foreach (var field in new[] { "\"hidden_size\"", "\"num_key_value_heads\"", "\"rope_scaling\"", "\"rope_type\"", "\"original_max_position_embeddings\"", "\"eos_token_id\"", "\"loram_layer_heads\"", "\"hidden_act\"", "\"architectures\"" })
            Assert.Contains(field, text);
        var again = LlamaConfig.Load(path);
        Assert.Equal(original.ToJson(), again.ToJson());
        Assert.Equal(original.ParameterCount(), again.ParameterCount());
        Assert.Equal(original.EosTokenIds, again.EosTokenIds);
        Assert.Equal(original.LayerHeads, again.LayerHeads);
        Assert.Equal("silu", again.Extra!["hidden_act"]!.ToString());
        Assert.False(File.Exists(path + ".tmp"));
    }
}
