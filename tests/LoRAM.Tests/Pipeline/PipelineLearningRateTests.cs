using LoRAM.Data;
using LoRAM.Llama.Tests.Support;
using LoRAM.Pipeline;
using LoRAM.Progress;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Pipeline;

/// <summary>Each fine-tuned row's learning rate: the common default, a documented row default, or swept on the
/// validation split — which holds instructions no row trains on and no test item.</summary>
public sealed class PipelineLearningRateTests : IDisposable
{
    private readonly TempFolder _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Without_a_sweep_a_row_takes_its_documented_default_else_the_common_rate()
    {
        var o = new PipelineOptions
        {
            Models = "", Out = "", LearningRate = 2e-3, RowLearningRates = new Dictionary<string, double> { ["sibling-lora"] = 3e-4 },
            RowLearningRatesSource = "sweep of 2026-12-01",
        };
        Assert.Equal("lr 3e-4 (row default from sweep of 2026-12-01)", LearningRateChoice.For(o, "sibling-lora").Describe());
        Assert.Equal("lr 2e-3 (default)", LearningRateChoice.For(o, "base-lora").Describe());
        Assert.Equal(1e-3, new PipelineOptions { Models = "", Out = "" }.LearningRate);   // the paper's default
        Assert.Empty(new PipelineOptions { Models = "", Out = "" }.RowLearningRates);
    }

    [Fact]
    public void A_sweep_picks_the_lowest_validation_perplexity_and_refuses_a_grid_that_all_diverged()
    {
        LearningRateTrial[] trials = [new(1e-4, 5.0), new(3e-4, 4.0), new(1e-3, 4.0), new(3e-3, double.PositiveInfinity)];
        var chosen = LearningRateChoice.Swept("loram-stru", trials);
        Assert.Equal(3e-4, chosen.Rate);   // a tie goes to the first in grid order
        Assert.Equal(LearningRateSource.Swept, chosen.Source);
        Assert.Equal(trials, chosen.Trials);
        Assert.Equal("lr 3e-4 (swept on validation)", chosen.Describe());
        var row = new VariantResult
        {
            Name = "loram-stru", Label = "LoRAM-Stru (0.5)", TrainedModelParameters = 1, ReductionRatio = 1, TrainedModelWeightBytes = 1, PerplexityInDomain = 4,
            PerplexityOutOfDomain = 5, MultipleChoiceAccuracy = 0.25, MultipleChoiceAccuracyNorm = 0.25, MathAccuracy = 0, LearningRate = chosen,
        };
        Assert.Equal("- LoRAM-Stru (0.5): lr 3e-4 (swept on validation); validation perplexity 1e-4: 5.000, **3e-4: 4.000**, 1e-3: 4.000, 3e-3: diverged",
            PipelineReport.LearningRates([row]).Trim());
        var e = Assert.Throws<UserInputException>(() => LearningRateChoice.Swept("base-lora", [new(1, double.PositiveInfinity), new(2, double.NaN)]));
        Assert.StartsWith("--sweep-lr: every learning rate", e.Message);
        Assert.Contains("'base-lora'", e.Message);
    }

    private PipelineOptions Options(string name) => new()
    {
        Models = _dir.File("models"), Out = _dir.File(name), Variants = ["sibling-lora"], SweepLr = [1e-3, 3e-2], Steps = 2, Batch = 2, MicroBatch = 2,
        SeqLen = 128, EvalEvery = 2, CurveItems = 2, Instructions = 10, ValidationItems = 3, CorpusChars = 3_000, EvalItems = 3, MathItems = 1, MathMaxNewTokens = 2,
    };

    /// <summary>A folder whose data is <paramref name="source"/>'s, edited, recorded as generated (so the run uses it).</summary>
    private PipelineOptions WithData(PipelineOptions source, string name, Action<string> edit)
    {
        var o = source with { Out = _dir.File(name) };
        string data = Path.Combine(o.Out, "data");
        Directory.CreateDirectory(data);
        foreach (var file in DataGeneration.FileNames) File.Copy(Path.Combine(source.Out, "data", file), Path.Combine(data, file));
        edit(data);
        PipelineInputs.Check(o, Path.Combine(o.Models, "base"), Path.Combine(o.Models, "sibling"));
        PipelineInputs.RecordData(o.Out, data);
        return o;
    }

    [Fact]
    public void The_swept_rate_depends_on_the_validation_items_and_on_no_test_item()
    {
        TinyLlama.Write(_dir.File("models/base"), new TinyLlamaOptions { MaxPositions = 256 });
        TinyLlama.Write(_dir.File("models/sibling"), new TinyLlamaOptions { Layers = 1, Hidden = 32, Heads = 2, KvHeads = 1, Intermediate = 64, MaxPositions = 256, Seed = 2 });
        using var cpu = new CpuBackend(2);
        var a = Options("a");
        var log = new StringWriter();
        var rowA = new PipelineRunner(a, cpu, new LineProgress(log)).Run().Rows.Single();
        var lr = rowA.LearningRate!;
        Assert.Equal(LearningRateSource.Swept, lr.Source);
        Assert.Equal([1e-3, 3e-2], lr.Trials!.Select(t => t.LearningRate));
        Assert.Equal(lr.Trials!.MinBy(t => t.ValidationPerplexity)!.LearningRate, lr.Rate);
        PipelineReport.Write(a.Out, a, [rowA], [], cpu.Name, seconds: 1);
        using (var report = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(a.Out, "report.json"))))
        {
            var written = report.RootElement.GetProperty("variants")[0].GetProperty("learning_rate");
            Assert.Equal("Swept", written.GetProperty("source").GetString());
            Assert.Equal(2, written.GetProperty("trials").GetArrayLength());
        }
        Assert.All(lr.Trials!, t => Assert.True(double.IsFinite(t.ValidationPerplexity) && t.ValidationPerplexity >= 1, $"{t}"));
        // One training per rate: the first seed at the chosen rate is its sweep trial, reused.
        Assert.Equal(2, log.ToString().Split('\n').Count(l => l.TrimEnd().EndsWith("· train LoRA", StringComparison.Ordinal)));
        // The validation items are the last of instructions.jsonl, and no row trains on them.
        var all = AlpacaFile.Load(Path.Combine(a.Out, "data", DataGeneration.Instructions));
        Assert.Equal(all.Take(10), AlpacaFile.Load(Path.Combine(a.Out, "data", ValidationSplit.Train)));
        Assert.Equal(all.Skip(10), AlpacaFile.Load(Path.Combine(a.Out, "data", ValidationSplit.Validation)));

        // Every test set changed (in- and out-of-domain swapped, MC and math cut to one item): the sweep scores the same
        // to the last bit, while the row's test scores move.
        var b = WithData(a, "b", data =>
        {
            File.Move(Path.Combine(data, DataGeneration.PplIn), Path.Combine(data, "swap"));
            File.Move(Path.Combine(data, DataGeneration.PplOut), Path.Combine(data, DataGeneration.PplIn));
            File.Move(Path.Combine(data, "swap"), Path.Combine(data, DataGeneration.PplOut));
            foreach (var f in new[] { DataGeneration.MultipleChoice, DataGeneration.Math })
                File.WriteAllLines(Path.Combine(data, f), File.ReadAllLines(Path.Combine(data, f)).Take(1));
        });
        var rowB = new PipelineRunner(b, cpu, LineProgress.None).Run().Rows.Single();
        Assert.Equal(lr.Trials, rowB.LearningRate!.Trials);
        Assert.Equal(lr.Rate, rowB.LearningRate.Rate);
        Assert.NotEqual(rowA.PerplexityInDomain, rowB.PerplexityInDomain);

        // Other validation items (the out-of-domain test items, here), the same training data: other validation scores.
        var c = WithData(a, "c", data =>
        {
            var instructions = AlpacaFile.Load(Path.Combine(data, DataGeneration.Instructions));
            AlpacaFile.Write(Path.Combine(data, DataGeneration.Instructions), instructions.Take(10).Concat(AlpacaFile.Load(Path.Combine(data, DataGeneration.PplOut)).Take(3)));
        });
        var rowC = new PipelineRunner(c, cpu, LineProgress.None).Run().Rows.Single();
        Assert.All(lr.Trials!.Zip(rowC.LearningRate!.Trials!), p => Assert.NotEqual(p.First.ValidationPerplexity, p.Second.ValidationPerplexity));
    }
}
