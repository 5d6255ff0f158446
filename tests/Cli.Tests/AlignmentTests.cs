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

    [Fact]
    public void Aligning_an_unstructured_pruned_model_lowers_its_loss_keeps_it_pruned_and_carries_the_record()
    {
        var src = Path.Combine(_dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 2, Hidden = 64, Intermediate = 128 });
        var pruned = Path.Combine(_dir.Path, "pruned");
        using (var cpu = new CpuBackend(1))
            ModelPruner.Run(new PruneOptions { Model = src, Out = pruned, Method = PruningMethod.Unst, Ratio = 0.5, Samples = 4, SeqLen = 24 }, cpu);
        var corpus = Path.Combine(_dir.Path, "corpus.txt");
        PlainTextCorpus.Write(corpus, new CorpusGenerator(World.Generate(2), 2).Documents(40_000));

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
}
