using System.Diagnostics;
using System.CommandLine;
using LoRAM.Cli;
using LoRAM.Data;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary>A tiny model folder (also as models/base and models/sibling), instruction data and a corpus.</summary>
public sealed class CliInputs : IDisposable
{
    public TempFolder Dir { get; } = new();
    public string Model => Dir.File("models/base");
    public string Models => Dir.File("models");
    public string Instructions => Dir.File("train.jsonl");
    public string Corpus => Dir.File("corpus.txt");

    public CliInputs()
    {
        TinyLlama.Write(Model, new TinyLlamaOptions { MaxPositions = 128 });
        TinyLlama.Write(Dir.File("models/sibling"), new TinyLlamaOptions { MaxPositions = 128, Seed = 2 });
        AlpacaFile.Write(Instructions, new InstructionGenerator(World.Generate(3), 3).Generate(8));
        File.WriteAllText(Corpus, string.Join("\n\n", Enumerable.Range(0, 40).Select(i => $"Document {i} says hello to the world, again and again.")));
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>
/// Every command checks every option before any work (the options record's Validate(), first thing in its job): a bad
/// value — NaN, ±infinity, zero or negative where a positive count is needed, an overflowing total — is exit 2 with one
/// line naming the flag, fast, and no output folder or checkpoint appears.
/// </summary>
public sealed class OptionValidationTests(CliInputs inputs) : IClassFixture<CliInputs>
{
    private static readonly Command[] All =
    [
        TrainCommand.Create(), PretrainCommand.Create(), AlignCommand.Create(), PruneCommand.Create(), DataCommand.Create(),
        PipelineCommand.Create(), EvalCommand.Create(), GenerateCommand.Create(), QuantizeCommand.Create(), MergeCommand.Create(), RecoverCommand.Create(),
    ];

    /// <summary>The valid base arguments of each command; {model}, {data}, {corpus}, {models}, {out} are filled in.</summary>
    private static readonly Dictionary<string, string[]> Base = new()
    {
        ["train"] = ["--model", "{model}", "--data", "{data}", "--out", "{out}", "--seq-len", "96", "--steps", "2", "--batch", "2", "--micro-batch", "1"],
        ["pretrain"] = ["--config", "sibling", "--data", "{corpus}", "--tokens", "512", "--out", "{out}", "--seq-len", "32", "--batch", "2"],
        ["align"] = ["--model", "{model}", "--data", "{corpus}", "--tokens", "512", "--out", "{out}", "--seq-len", "32", "--batch", "2"],
        ["prune"] = ["--model", "{model}", "--method", "rand", "--ratio", "0.5", "--out", "{out}"],
        ["data"] = ["--out", "{out}", "--corpus-chars", "1000", "--instructions", "5", "--eval-size", "3"],
        ["pipeline"] = ["--models", "{models}", "--out", "{out}", "--variants", "base"],
        ["eval"] = ["--model", "{model}", "--ppl", "{data}"],
        ["generate"] = ["--model", "{model}", "--prompt", "Hi"],
        ["recover"] = ["--pruned", "{model}", "--adapter", "{model}", "--model", "{model}", "--out", "{out}"],
    };

    public static TheoryData<string, string, string> BadValues => new()
    {
        { "train", "--lora-dropout", "NaN" }, { "train", "--lora-dropout", "1" }, { "train", "--weight-decay", "NaN" }, { "train", "--eval-items", "0" },
        { "train", "--lr", "Infinity" }, { "train", "--lr", "NaN" }, { "train", "--lr", "0" }, { "train", "--lr", "-1e-3" }, { "train", "--seq-len", "0" },
        { "train", "--batch", "-1" }, { "train", "--batch", "0" }, { "train", "--micro-batch", "0" }, { "train", "--rank", "100000" }, { "train", "--rank", "0" },
        { "train", "--alpha", "NaN" }, { "train", "--alpha", "-Infinity" }, { "train", "--steps", "-1" }, { "train", "--warmup", "-1" },
        { "train", "--time-limit", "NaN" }, { "train", "--time-limit", "Infinity" }, { "train", "--eval-every", "-2" }, { "train", "--checkpoint-every", "-1" },
        { "train", "--targets", "q_proj,nope" }, { "train", "--seq-len", "100000" },
        { "pretrain", "--tokens", "9223372036854775807" }, { "pretrain", "--tokens", "0" }, { "pretrain", "--clip", "NaN" }, { "pretrain", "--lr", "Infinity" },
        { "pretrain", "--seq-len", "0" }, { "pretrain", "--batch", "-1" }, { "pretrain", "--weight-decay", "NaN" }, { "pretrain", "--min-lr-ratio", "NaN" },
        { "pretrain", "--min-lr-ratio", "2" }, { "pretrain", "--keep-checkpoints", "0" }, { "pretrain", "--micro-batch", "3" }, { "pretrain", "--time-limit", "-1" },
        { "pretrain", "--eval-sequences", "-1" }, { "pretrain", "--warmup", "-5" },
        { "align", "--clip", "NaN" }, { "align", "--tokens", "-1" }, { "align", "--lr", "NaN" }, { "align", "--batch", "0" },
        { "prune", "--ratio", "NaN" }, { "prune", "--ratio", "1" }, { "prune", "--ratio", "-0.5" }, { "prune", "--samples", "0" }, { "prune", "--seq-len", "0" },
        { "prune", "--keep-first", "-1" }, { "prune", "--keep-last", "-1" },
        { "recover", "--seed", "1.5" }, { "recover", "--seed", "99999999999" },
        { "data", "--eval-size", "0" }, { "data", "--instructions", "-1" }, { "data", "--corpus-chars", "-5" }, { "data", "--corpus-chars", "9223372036854775807" },
        { "pipeline", "--ratio", "NaN" }, { "pipeline", "--ratio", "1" }, { "pipeline", "--steps", "0" }, { "pipeline", "--eval-items", "0" },
        { "pipeline", "--math-items", "-1" }, { "pipeline", "--align-steps", "-1" }, { "pipeline", "--align-steps", "0,x" }, { "pipeline", "--align-steps", "20,20" },
        { "pipeline", "--corpus-skip-chars", "-1" }, { "data", "--corpus-skip-chars", "-1" },
        { "pipeline", "--seeds", "0" }, { "pipeline", "--lr", "NaN" }, { "pipeline", "--lr", "0" },
        { "pipeline", "--sweep-lr", "0,1e-3" }, { "pipeline", "--sweep-lr", "abc" }, { "pipeline", "--sweep-lr", "1e-3,1e-3" }, { "pipeline", "--sweep-lr", "," },
        { "pipeline", "--validation-items", "0" }, { "pipeline", "--targets", "q_proj,nope" }, { "pipeline", "--targets", "," },
        { "pipeline", "--knowledge-items", "-1" },
        { "pipeline", "--sweep-ratios", "0" }, { "pipeline", "--sweep-ratios", "0.1,x" }, { "pipeline", "--sweep-ratios", "0.1,0.1" }, { "pipeline", "--sweep-ratios", "," },
        { "eval", "--batch", "0" }, { "eval", "--max-length", "1" }, { "eval", "--limit", "-1" }, { "eval", "--shots", "-1" }, { "eval", "--opening-tokens", "-1" },
        { "generate", "--temperature", "NaN" }, { "generate", "--top-p", "0" }, { "generate", "--top-k", "-1" },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void A_bad_value_exits_2_naming_the_flag_before_any_work(string command, string flag, string value)
    {
        string outDir = inputs.Dir.File($"out-{command}{flag}{value}");
        var args = new List<string> { command };
        var given = Base[command];
        for (int i = 0; i < given.Length; i += 2)
            if (given[i] != flag) args.AddRange([given[i], Fill(given[i + 1], outDir)]);
        args.AddRange([flag, value]);
        var clock = Stopwatch.StartNew();
        var r = InProcessCli.Run(All, [.. args]);
        Assert.True(r.Code == 2, $"exit {r.Code}: {r.Error}");
        var line = InProcessCli.OneErrorLine(r, flag);
        Assert.StartsWith("loram: error: ", line);
        Assert.Equal("", r.Output);
        Assert.False(Directory.Exists(outDir), $"{outDir} was created: {line}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    private string Fill(string v, string outDir) => v.Replace("{model}", inputs.Model).Replace("{models}", inputs.Models).Replace("{data}", inputs.Instructions)
        .Replace("{corpus}", inputs.Corpus).Replace("{out}", outDir);

    /// <summary>The table covers every command that takes a number, and the valid base arguments do run (exit 0).</summary>
    [Fact]
    public void The_table_covers_every_command_with_numeric_options_and_its_base_arguments_are_valid()
    {
        var covered = BadValues.Select(row => (string)row[0]).ToHashSet();
        foreach (var c in All.Where(c => c.Options.Any(o => o.ValueType is var t && (t == typeof(int) || t == typeof(long) || t == typeof(double) || t == typeof(float) || t == typeof(int?)))))
            Assert.Contains(c.Name, covered);
        foreach (var command in new[] { "data", "eval", "generate" })
        {
            string outDir = inputs.Dir.File($"ok-{command}");
            var r = InProcessCli.Run(All, [command, .. Base[command].Select(v => Fill(v, outDir))]);
            Assert.True(r.Code == 0, $"{command}: {r.Error}");
        }
    }
}
