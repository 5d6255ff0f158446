using System.Text.Json.Nodes;
using LoRAM.Llama.Model;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Tests.Corruption;

/// <summary>
/// A valid config.json beside weights it does not describe: every size field changed in turn (layers up and down,
/// hidden, intermediate, heads, kv heads, head_dim, vocab), and the head (tie_word_embeddings with and without an
/// lm_head.weight). Each must be refused by both loaders (<see cref="LlamaModel.Load"/>, <see cref="LlamaWeights.Load"/>)
/// with a one-line <see cref="LlamaFormatException"/> naming config.json and the field — never run as a different model
/// (a config with 2 of 4 layers used to give a 2-layer model and exit 0). Each refusal must also be cheap: ≤ 16 MB
/// allocated and ≤ 5 s, whatever the field says (num_hidden_layers 10,000 against 4 layers of weights included).
/// </summary>
public sealed class ConfigWeightsCorruptionTests : IDisposable
{
    private readonly TempFolder _dir = new("loram-config-weights");
    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string, string> Cases => new()
    {
        // name, edit (field=value), what the message must mention besides config.json and the field
        { "layers_fewer", "num_hidden_layers=2", "layers 2..3" },
        { "layers_more", "num_hidden_layers=6", "layer 4" },
        { "layers_ten_thousand", "num_hidden_layers=10000", "layer 4" },
        { "hidden", "hidden_size=48", "model.embed_tokens.weight" },
        { "intermediate", "intermediate_size=64", "gate_proj" },
        { "heads", "num_attention_heads=8", "q_proj" },
        { "kv_heads", "num_key_value_heads=4", "k_proj" },
        { "head_dim", "head_dim=16", "q_proj" },
        { "vocab", "vocab_size=300", "model.embed_tokens.weight" },
        { "untied_without_head", "tie_word_embeddings=false", "lm_head.weight" },
        // Legal sizes no machine could hold, beside weights that are small: refused by the weights, not allocated.
        { "hidden_huge", "hidden_size=2147483646", "model.embed_tokens.weight" },
        { "intermediate_huge", "intermediate_size=2147483647", "gate_proj" },
        { "vocab_huge", "vocab_size=2147483647", "model.embed_tokens.weight" },
    };

    [Theory, MemberData(nameof(Cases))]
    public void A_config_that_does_not_describe_the_weights_is_refused_naming_the_field(string name, string edit, string mention)
    {
        string folder = _dir.File(name);
        TinyLlama.Write(folder, new TinyLlamaOptions { Layers = 4, Tied = name == "untied_without_head" });
        var (field, value) = (edit.Split('=')[0], edit.Split('=')[1]);
        EditConfig(folder, o => o[field] = value is "true" or "false" ? bool.Parse(value) : int.Parse(value));
        string config = Path.Combine(folder, ModelFolder.Config);
        using var cpu = new CpuBackend(1);
        Bounded.Run(() => Rejection.Expect<LlamaFormatException>(() => LlamaModel.Load(folder, cpu).Dispose(), config, field, mention),
            16_000_000, 5, cpu, 16_000_000, $"{name} via LlamaModel.Load");
        Bounded.Run(() => Rejection.Expect<LlamaFormatException>(() => LlamaWeights.Load(folder, cpu).Dispose(), config, field, mention),
            16_000_000, 5, cpu, 16_000_000, $"{name} via LlamaWeights.Load");
    }

    [Fact]
    public void A_tied_config_beside_a_different_lm_head_is_refused_and_beside_a_copy_of_the_embedding_loads()
    {
        string folder = _dir.File("tied");
        TinyLlama.Write(folder, new TinyLlamaOptions { Layers = 2, DType = DType.BF16 });   // untied: has its own lm_head.weight
        using var cpu = new CpuBackend(1);
        using var untied = LlamaWeights.Load(folder, cpu);
        EditConfig(folder, o => o["tie_word_embeddings"] = true);
        Rejection.Expect<LlamaFormatException>(() => LlamaModel.Load(folder, cpu).Dispose(),
            Path.Combine(folder, ModelFolder.Config), "tie_word_embeddings", "lm_head.weight", "differs");

        // The same head stored twice (as some HF checkpoints do; also in F32 beside the BF16 embedding): loads as tied.
        foreach (var dtype in new[] { DType.BF16, DType.F32 })
        {
            using (var head = untied.Embedding.Cast(dtype))
            {
                var writer = new SafetensorsWriter();
                foreach (var (n, t) in untied.Tensors) writer.Add(n, n == LlamaTensorNames.LmHead ? head : t);
                writer.Save(_dir.File("tied.safetensors"));
            }
            File.Move(_dir.File("tied.safetensors"), Path.Combine(folder, ModelFolder.Weights), overwrite: true);
            using var model = LlamaModel.Load(folder, cpu);
            Assert.Equal(2, model.Layers.Count);
        }
    }

    [Fact]
    public void A_projection_stored_in_another_format_must_have_the_configs_shape_too()
    {
        // The NF4 loader hands back [out, in] from its own metadata: LlamaModel.Load checks it against config.json.
        string folder = _dir.File("special");
        TinyLlama.Write(folder);
        using var cpu = new CpuBackend(1);
        var options = new LlamaModelOptions
        {
            LinearLoader = (checkpoint, name, backend) => name == LlamaTensorNames.Down(1)
                ? new Autograd.DenseFrozenWeight(Tensor.Zeros(backend, 32, 40))   // down_proj is [32, 48]
                : null,
        };
        Rejection.Expect<LlamaFormatException>(() => LlamaModel.Load(folder, cpu, options).Dispose(),
            Path.Combine(folder, ModelFolder.Config), "intermediate_size", LlamaTensorNames.Down(1));
    }

    private static void EditConfig(string folder, Action<JsonObject> edit)
    {
        string path = Path.Combine(folder, ModelFolder.Config);
        var o = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        edit(o);
        File.WriteAllText(path, o.ToJsonString());
    }
}
