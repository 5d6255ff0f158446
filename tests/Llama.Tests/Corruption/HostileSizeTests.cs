using System.Text.Json.Nodes;
using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Tests.Corruption;

/// <summary>
/// Sizes in config.json that would make the tool allocate without bound before any check (a num_hidden_layers of a
/// billion grew eval/train/plan by ~100 MB/s with no error). Each hostile config must be refused — or, where the value
/// is legal, served — within a stated budget of managed bytes on the reading thread, backend tensor bytes and seconds.
/// </summary>
public sealed class HostileSizeTests : IDisposable
{
    private readonly TempFolder _dir = new("loram-hostile-size");
    public void Dispose() => _dir.Dispose();

    /// <summary>Config text alone (what <c>loram plan</c> reads): refused at parse, ≤ 1 MB and ≤ 1 s each. Sizes are
    /// set on a 10,000-layer config (the most allowed) so that each one alone pushes it past 10^15 parameters; with
    /// weights beside it, any size the weights do not have is refused by ConfigWeightsCorruptionTests' checks.</summary>
    [Theory]
    [InlineData("num_hidden_layers", 1_000_000_000, "num_hidden_layers")]
    [InlineData("num_hidden_layers", 10_001, "num_hidden_layers")]
    [InlineData("hidden_size", int.MaxValue, "parameters")]
    [InlineData("intermediate_size", int.MaxValue, "parameters")]
    [InlineData("vocab_size", int.MaxValue, "parameters")]
    [InlineData("num_attention_heads", 1 << 30, "parameters")]
    public void A_config_of_absurd_size_is_refused_at_parse_for_free(string field, int value, string mention)
    {
        var o = (JsonObject)JsonNode.Parse(TinyLlama.Config(new TinyLlamaOptions()).ToJson())!;
        o["num_hidden_layers"] = LlamaConfig.MaxLayers;
        o[field] = value;
        if (field == "num_attention_heads") { o["num_key_value_heads"] = 1 << 30; o["head_dim"] = 8; }
        if (field == "vocab_size") o["hidden_size"] = 1 << 20;   // vocab × hidden is what the embedding costs
        string json = o.ToJsonString();
        Bounded.Run(() => Rejection.Expect<LlamaFormatException>(() => LlamaConfig.Parse(json, "config.json"), "config.json", mention),
            1_000_000, 1, what: $"{field} = {value}");
    }

    [Fact]
    public void The_largest_legal_layer_count_parses_cheaply()
    {
        var o = (JsonObject)JsonNode.Parse(TinyLlama.Config(new TinyLlamaOptions()).ToJson())!;
        o["num_hidden_layers"] = LlamaConfig.MaxLayers;
        LlamaConfig? config = null;
        Bounded.Run(() => config = LlamaConfig.Parse(o.ToJsonString()), 1_000_000, 1, what: "10,000 layers");
        Assert.Equal(LlamaConfig.MaxLayers, config!.NumHiddenLayers);
    }

    /// <summary>max_position_embeddings at int.MaxValue is legal (a long-context config): the RoPE tables grow with the
    /// positions a forward pass uses, never with the config's maximum (which would be 2^31 × head_dim/2 × 8 bytes).
    /// Load + one 8-token forward: ≤ 32 MB managed, ≤ 32 MB of tensors, ≤ 10 s.</summary>
    [Fact]
    public void A_huge_max_position_embeddings_costs_only_the_positions_used()
    {
        string folder = _dir.File("long");
        TinyLlama.Write(folder);
        var path = Path.Combine(folder, ModelFolder.Config);
        var o = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        o["max_position_embeddings"] = int.MaxValue;
        File.WriteAllText(path, o.ToJsonString());
        using var cpu = new CpuBackend(1);
        float[]? logits = null;
        Bounded.Run(() =>
        {
            using var model = LlamaModel.Load(folder, cpu);
            using var tape = new Tape(cpu);
            using var _ = tape.NoGrad();
            using var ids = Tensor.FromArray(cpu, new[] { 256, 1, 2, 3, 4, 5, 6, 7 }, 1, 8);
            logits = model.Forward(tape, ids).Value.ToFloatArray();
        }, 32_000_000, 10, cpu, 32_000_000, "max_position_embeddings = 2^31 − 1");
        Assert.Equal(8 * 259, logits!.Length);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
    }
}
