using System.Text.Json;
using LoRAM.Cli;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Tests.Tokenization;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary>
/// docs/your-own-model.md, run: a Hugging Face LLaMA folder built from a real tokenizer.json (the LLaMA-2-style
/// fixture, vocab 32000) and random weights of a tiny shape, taken through the guide's commands with the guide's
/// flags (smaller step counts). If a flag or an artefact the guide names changes, this fails.
/// </summary>
public sealed class YourOwnModelGuideTests
{
    // The guide's config.json: LLaMA-2 family, vocab of the real tokenizer, tiny everything else.
    private const int Hidden = 64, Intermediate = 172, Layers = 8, Heads = 4, KvHeads = 2, HeadDim = Hidden / Heads, Rank = 8;

    private const string Config = """
        {
          "architectures": ["LlamaForCausalLM"],
          "model_type": "llama",
          "hidden_size": 64,
          "intermediate_size": 172,
          "num_hidden_layers": 8,
          "num_attention_heads": 4,
          "num_key_value_heads": 2,
          "vocab_size": 32000,
          "max_position_embeddings": 2048,
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "tie_word_embeddings": false,
          "bos_token_id": 1,
          "eos_token_id": 2,
          "torch_dtype": "bfloat16"
        }
        """;

    private static readonly System.CommandLine.Command[] Commands =
    [
        InitCommand.Create(), TokenizeCommand.Create(), PlanCommand.Create(), PruneCommand.Create(), AlignCommand.Create(),
        TrainCommand.Create(), RecoverCommand.Create(), EvalCommand.Create(), GenerateCommand.Create(), MergeCommand.Create(),
    ];

    private static InProcessCli.Result Ok(params string[] args)
    {
        var r = InProcessCli.Run(Commands, args);
        Assert.True(r.Code == 0, $"loram {string.Join(' ', args)} exited {r.Code}:\n{r.Error}");
        return r;
    }

    [Fact]
    public void The_guide_runs_end_to_end_on_a_real_tokenizer_and_random_weights()
    {
        using var dir = new TempFolder("loram-guide");
        string P(string name) => dir.File(name);
        File.WriteAllText(P("config.json"), Config);
        WriteData(dir);
        string tokenizer = ReferenceTokenizers.FolderOf("llama2");

        // 1. init: random weights of the config, the real tokenizer copied along.
        Ok("init", "--config", P("config.json"), "--tokenizer", tokenizer, "--out", P("llama-tiny"));
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(P("llama-tiny"), f)), f);

        // tokenize: Hugging Face's input_ids for "hello world" with this tokenizer (fixtures/README.md).
        Assert.Equal("1 6312 28709 1526", Ok("tokenize", "--model", P("llama-tiny"), "--text", "hello world").Output.Trim());

        // 2. plan: from the folder and from a built-in real-size config (no weights read).
        Assert.Contains("layers 2..5 pruned", Ok("plan", "--config", P("llama-tiny"), "--ratio", "0.5", "--keep-first", "2", "--keep-last", "2").Output);
        Assert.Contains("6,738,415,616 → 3,361,640,448", Ok("plan", "--config", "llama-2-7b", "--ratio", "0.65").Output);

        // 3. prune: a real tokenizer needs --calib (exit 2, one error line), then structured pruning with it.
        string[] prune = ["prune", "--model", P("llama-tiny"), "--method", "stru", "--ratio", "0.5", "--keep-first", "2", "--keep-last", "2", "--out", P("llama-tiny-pruned")];
        var refused = InProcessCli.Run(Commands, prune);
        Assert.Equal(2, refused.Code);
        InProcessCli.OneErrorLine(refused, "--calib");
        Ok([.. prune, "--calib", P("calib.txt")]);
        Assert.True(File.Exists(Path.Combine(P("llama-tiny-pruned"), "loram_pruning.json")));
        Assert.True(File.Exists(Path.Combine(P("llama-tiny-pruned"), "model.safetensors")));
        using (var pruned = SafetensorsFile.Open(Path.Combine(P("llama-tiny-pruned"), "model.safetensors")))
            Assert.Equal([Intermediate / 2, Hidden], pruned["model.layers.3.mlp.gate_proj.weight"].Shape);

        // 4. align (optional): the aligned folder keeps the pruning record.
        Ok("align", "--model", P("llama-tiny-pruned"), "--data", P("calib.txt"), "--tokens", "2048", "--seq-len", "64", "--batch", "4", "--out", P("llama-tiny-aligned"));
        Assert.True(File.Exists(Path.Combine(P("llama-tiny-aligned"), "loram_pruning.json")));
        // ... and its tokenizer: the corpus was read with it, and the aligned model tokenizes as Hugging Face does.
        Assert.False(File.Exists(Path.Combine(P("llama-tiny-aligned"), "loram_tokenizer.json")));
        Assert.Equal("1 6312 28709 1526", Ok("tokenize", "--model", P("llama-tiny-aligned"), "--text", "hello world").Output.Trim());

        // 5. train: Alpaca JSONL (template alpaca: the fixture has no chat_template), HF messages with --template, QLoRAM.
        var train = Ok("train", "--model", P("llama-tiny-pruned"), "--data", P("train.jsonl"), "--eval", P("eval.jsonl"),
            "--steps", "2", "--batch", "4", "--seq-len", "128", "--out", P("adapter-pruned"));
        Assert.Contains("template alpaca", train.Error);
        AssertAdapter(P("adapter-pruned"));
        Ok("train", "--model", P("llama-tiny-pruned"), "--data", P("chat.jsonl"), "--template", "llama2", "--steps", "2", "--batch", "4", "--seq-len", "128", "--out", P("adapter-chat"));
        AssertAdapter(P("adapter-chat"));
        Ok("train", "--model", P("llama-tiny-pruned"), "--data", P("train.jsonl"), "--nf4", "--steps", "2", "--batch", "4", "--seq-len", "128", "--out", P("adapter-qloram"));
        AssertAdapter(P("adapter-qloram"));

        // 6. recover: the adapter in the original model's shapes, with loram_recovery.json beside it.
        foreach (var (adapter, recovered) in new[] { ("adapter-pruned", "adapter-recovered"), ("adapter-qloram", "adapter-qloram-recovered") })
        {
            Ok("recover", "--pruned", P("llama-tiny-pruned"), "--adapter", P(adapter), "--model", P("llama-tiny"), "--out", P(recovered));
            AssertAdapter(P(recovered));
            Assert.True(File.Exists(Path.Combine(P(recovered), "loram_recovery.json")));
            AssertOriginalShapes(P(recovered));
        }

        // 7. eval / generate / merge with the original model.
        using (var report = JsonDocument.Parse(Ok("eval", "--model", P("llama-tiny"), "--adapter", P("adapter-recovered"), "--ppl", P("eval.jsonl"), "--json").Output))
        {
            var set = Assert.Single(report.RootElement.GetProperty("ppl").EnumerateObject()).Value;
            double ppl = set.GetProperty("perplexity").GetDouble();
            Assert.True(double.IsFinite(ppl) && ppl > 1, $"perplexity {ppl}");
            Assert.True(set.GetProperty("tokens").GetInt32() > 0);
        }
        Ok("generate", "--model", P("llama-tiny"), "--adapter", P("adapter-recovered"), "--prompt", "What is Ada's favourite colour?", "--max-new-tokens", "4");
        Ok("merge", "--model", P("llama-tiny"), "--adapter", P("adapter-recovered"), "--out", P("llama-tiny-merged"));
        using (var merged = SafetensorsFile.Open(Path.Combine(P("llama-tiny-merged"), "model.safetensors")))
            Assert.Equal([Intermediate, Hidden], merged["model.layers.3.mlp.gate_proj.weight"].Shape);
    }

    private static void AssertAdapter(string folder)
    {
        Assert.True(File.Exists(Path.Combine(folder, "adapter_config.json")), folder);
        Assert.True(File.Exists(Path.Combine(folder, "adapter_model.safetensors")), folder);
    }

    /// <summary>Every lora_A is [r, in] and every lora_B [out, r] of the unpruned projection, in every layer.</summary>
    private static void AssertOriginalShapes(string folder)
    {
        var shape = new Dictionary<string, (int Out, int In)>
        {
            ["self_attn.q_proj"] = (Heads * HeadDim, Hidden), ["self_attn.k_proj"] = (KvHeads * HeadDim, Hidden),
            ["self_attn.v_proj"] = (KvHeads * HeadDim, Hidden), ["self_attn.o_proj"] = (Hidden, Heads * HeadDim),
            ["mlp.gate_proj"] = (Intermediate, Hidden), ["mlp.up_proj"] = (Intermediate, Hidden), ["mlp.down_proj"] = (Hidden, Intermediate),
        };
        using var file = SafetensorsFile.Open(Path.Combine(folder, "adapter_model.safetensors"));
        Assert.Equal(Layers * shape.Count * 2, file.Entries.Count);
        for (int layer = 0; layer < Layers; layer++)
            foreach (var (module, (o, i)) in shape)
            {
                string name = $"base_model.model.model.layers.{layer}.{module}";
                Assert.Equal([Rank, i], file[$"{name}.lora_A.weight"].Shape);
                Assert.Equal([o, Rank], file[$"{name}.lora_B.weight"].Shape);
            }
    }

    /// <summary>The guide's data: Alpaca JSONL to train on and evaluate, HF-messages JSONL, a plain-text calibration file.</summary>
    private static void WriteData(TempFolder dir)
    {
        string[] names = ["Ada", "Lin", "Omar", "Sofia", "Kenji", "Maya"], colours = ["red", "green", "blue", "amber", "violet"];
        var rng = new Random(1);
        string Alpaca()
        {
            string n = names[rng.Next(names.Length)], c = colours[rng.Next(colours.Length)];
            return JsonSerializer.Serialize(new { instruction = $"What is {n}'s favourite colour?", input = $"{n} likes {c} more than any other colour.", output = $"{n}'s favourite colour is {c}." });
        }
        File.WriteAllLines(dir.File("train.jsonl"), Enumerable.Range(0, 16).Select(_ => Alpaca()));
        File.WriteAllLines(dir.File("eval.jsonl"), Enumerable.Range(0, 4).Select(_ => Alpaca()));
        File.WriteAllLines(dir.File("chat.jsonl"), Enumerable.Range(0, 8).Select(_ =>
        {
            string n = names[rng.Next(names.Length)], c = colours[rng.Next(colours.Length)];
            return JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = $"Which colour does {n} like?" }, new { role = "assistant", content = $"{n} likes {c}." } } });
        }));
        File.WriteAllText(dir.File("calib.txt"), string.Join(' ', Enumerable.Range(0, 400).Select(_ =>
            $"{names[rng.Next(names.Length)]} walked to the market and bought {rng.Next(2, 10)} {colours[rng.Next(colours.Length)]} apples.")) + "\n");
    }
}
