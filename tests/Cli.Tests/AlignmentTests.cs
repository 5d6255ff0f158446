using LoRAM.Llama.Tests.Support;
using System.CommandLine;
using LoRAM.Cli;
using LoRAM.Data;
using LoRAM.Llama;
using LoRAM.Pruning;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Training;

public sealed class AlignmentTests : IDisposable
{
    private readonly TempFolder _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>A tiny model pruned unstructured (50 %), and a general corpus to align it on.</summary>
    private (string Pruned, string Corpus) UnstructuredPrunedModel()
    {
        var src = Path.Combine(_dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 2, Hidden = 64, Intermediate = 128 });
        var pruned = Path.Combine(_dir.Path, "pruned");
        using (var cpu = new CpuBackend(1))
            ModelPruner.Run(new PruneOptions { Model = src, Out = pruned, Method = PruningMethod.Unst, Ratio = 0.5, Samples = 4, SeqLen = 24 }, cpu);
        var corpus = Path.Combine(_dir.Path, "corpus.txt");
        PlainTextCorpus.Write(corpus, new CorpusGenerator(World.Generate(2), 2).Documents(40_000));
        return (pruned, corpus);
    }

    [Fact]
    public void Aligning_an_unstructured_pruned_model_lowers_its_loss_keeps_it_pruned_and_carries_the_record()
    {
        var (pruned, corpus) = UnstructuredPrunedModel();

        var aligned = Path.Combine(_dir.Path, "aligned");
        var (code, output, _) = InProcessCli.Run(AlignCommand.Create(), "align", "--model", pruned, "--data", corpus, "--tokens", "8192",
            "--out", aligned, "--seq-len", "64", "--batch", "8", "--lr", "3e-3", "--eval-sequences", "4", "--dtype", "f32", "--json");
        Assert.Equal(0, code);
        using var report = System.Text.Json.JsonDocument.Parse(output);
        double first = report.RootElement.GetProperty("first_loss").GetDouble(), last = report.RootElement.GetProperty("final_loss").GetDouble();
        Assert.True(last < first, $"loss {first:F3} → {last:F3}");

        // The record and masks travel; every masked weight is still exactly zero, the others moved.
        Assert.True(File.Exists(Path.Combine(aligned, PruningRecord.FileName)));
        var masks = MaskFile.Load(Path.Combine(aligned, MaskFile.FileName));
        using var before = LlamaWeights.Load(pruned, new CpuBackend(1));
        using var after = LlamaWeights.Load(aligned, new CpuBackend(1));
        foreach (var (name, mask) in masks)
        {
            float[] w0 = before[name].ToFloatArray(), w1 = after[name].ToFloatArray();
            for (int i = 0; i < w1.Length; i++)
                if (!mask.Kept[i]) Assert.Equal(0f, w1[i]);
            Assert.Contains(Enumerable.Range(0, w1.Length), i => mask.Kept[i] && w1[i] != w0[i]);
        }
    }

    /// <summary>The command's defaults are the options record's (the official script's recipe), and the earlier recipe
    /// is a set of flags: every weight, lr 5e-4 decaying to 0.1 × lr, weight decay 0.1, 5 % warm-up.</summary>
    [Fact]
    public void The_defaults_follow_the_official_script_and_the_old_recipe_is_flags_away()
    {
        var (pruned, corpus) = UnstructuredPrunedModel();
        System.Text.Json.JsonElement Align(string name, params string[] flags)
        {
            var (code, output, error) = InProcessCli.Run(AlignCommand.Create(), ["align", "--model", pruned, "--data", corpus, "--tokens", "4096",
                "--out", Path.Combine(_dir.Path, name), "--seq-len", "32", "--batch", "4", "--eval-sequences", "0", "--json", .. flags]);
            Assert.True(code == 0, error);
            return System.Text.Json.JsonDocument.Parse(output).RootElement;
        }

        var official = Align("official");                                        // 32 steps
        Assert.Equal(3.33e-4, official.GetProperty("lr").GetDouble(), 12);
        Assert.Equal(2, official.GetProperty("warmup").GetInt32());              // 32 / 16
        Assert.False(official.GetProperty("weight_change").TryGetProperty("lm_head.weight", out _));

        var old = Align("old", "--weights", "all", "--lr", "5e-4", "--min-lr-ratio", "0.1", "--weight-decay", "0.1", "--warmup", "1");
        Assert.Equal(5e-4, old.GetProperty("lr").GetDouble(), 12);
        Assert.Equal(1, old.GetProperty("warmup").GetInt32());                   // 32 / 20
        Assert.True(old.GetProperty("weight_change").GetProperty("lm_head.weight").GetDouble() > 0);
    }
}
