using LoRAM.Llama.Tests.Support;
using LoRAM.Pipeline;
using LoRAM.Progress;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Pipeline;

/// <summary>Fine-tuned rows run with several seeds: one result per seed, the row their mean and spread, and an ordering
/// that calls a difference only beyond that spread.</summary>
public sealed class PipelineSeedsTests : IDisposable
{
    private readonly TempFolder _dir = new();
    public void Dispose() => _dir.Dispose();

    private static VariantResult Row(string name, string label, params double[][] seeds) => VariantResult.Aggregate(seeds.Select((s, i) =>
    {
        var r = new VariantResult
        {
            Name = name, Label = label, TrainedModelParameters = 10, ReductionRatio = 1, TrainedModelWeightBytes = 20,
            PerplexityInDomain = s[0], PerplexityOutOfDomain = s[1], MultipleChoiceAccuracy = s[2], MultipleChoiceAccuracyNorm = s[3], MathAccuracy = s[4],
            KnowledgeAccuracy = 0.5, KnowledgeExactMatch = 0.25,
            PeakTrainingBytes = 100 + i, TrainingSeconds = 2 * (i + 1), RowSeconds = 3, Curve = [new(5, s[0] + 1), new(10, s[0])],
        };
        return r with { Seeds = [SeedScores.Of(r, i + 1)] };
    }).ToList());

    [Fact]
    public void A_spread_is_the_mean_the_sample_standard_deviation_and_the_range()
    {
        // 2, 4, 9: mean 5; squared deviations 9 + 1 + 16 = 26; sample variance 26 / (3 − 1) = 13.
        var s = Spread.Of([2, 4, 9]);
        Assert.Equal(new Spread(5, Math.Sqrt(13), 2, 9, 3), s);
        Assert.Equal(new Spread(7, 0, 7, 7, 1), Spread.Of([7]));
        Assert.Throws<ArgumentException>(() => Spread.Of([]));
    }

    [Fact]
    public void A_row_of_several_seeds_holds_each_seeds_scores_and_their_means_and_spreads()
    {
        var r = Row("loram-stru", "LoRAM-Stru (0.5)", [3, 6, 0.25, 0.5, 0], [5, 8, 0.5, 0.5, 0], [4, 10, 0.75, 0.5, 0.1]);
        Assert.Equal([1, 2, 3], r.Seeds.Select(s => s.Seed));
        Assert.Equal(4, r.PerplexityInDomain, 12);
        Assert.Equal(8, r.PerplexityOutOfDomain, 12);
        Assert.Equal(0.5, r.MultipleChoiceAccuracy, 12);
        Assert.Equal(new Spread(4, 1, 3, 5, 3), r.SpreadOf(Metric.PerplexityInDomain));   // (1 + 1 + 0) / 2 = 1
        Assert.Equal(new Spread(8, 2, 6, 10, 3), r.SpreadOf(Metric.PerplexityOutOfDomain)); // (4 + 0 + 4) / 2 = 4
        Assert.Equal(0.25, r.SpreadOf(Metric.MultipleChoiceAccuracy).Std, 12);              // (1/16 + 0 + 1/16) / 2
        Assert.Equal(0, r.SpreadOf(Metric.MultipleChoiceAccuracyNorm).Std);
        Assert.Equal(102, r.PeakTrainingBytes);     // the largest peak
        Assert.Equal(4, r.TrainingSeconds);         // mean of 2, 4, 6
        Assert.Equal(9, r.RowSeconds);              // the work of all three
        Assert.Equal([new CurvePoint(5, 5), new CurvePoint(10, 4)], r.Curve);
        Assert.Equal(["perplexity_in_domain", "perplexity_out_of_domain", "multiple_choice_accuracy", "multiple_choice_accuracy_norm", "math_accuracy",
            "knowledge_accuracy", "knowledge_exact_match"], r.Spreads.Keys);
        Assert.Equal(2, r.Spreads["perplexity_out_of_domain"].Std);
    }

    [Fact]
    public void A_row_beats_another_only_when_the_means_differ_by_more_than_both_spreads()
    {
        // Lower perplexity is better: 3.0 ± 0.1 against 3.5 ± 0.2 differ by 0.5 > 0.3.
        Assert.Equal(Ordering.Beats, RowOrdering.Compare(new Spread(3.0, 0.1, 0, 0, 3), new Spread(3.5, 0.2, 0, 0, 3), lowerIsBetter: true));
        Assert.Equal(Ordering.LosesTo, RowOrdering.Compare(new Spread(3.5, 0.2, 0, 0, 3), new Spread(3.0, 0.1, 0, 0, 3), lowerIsBetter: true));
        // 0.5 apart with 0.3 + 0.3 of spread: within it.
        Assert.Equal(Ordering.WithinSpread, RowOrdering.Compare(new Spread(3.0, 0.3, 0, 0, 3), new Spread(3.5, 0.3, 0, 0, 3), lowerIsBetter: true));
        // Higher accuracy is better.
        Assert.Equal(Ordering.Beats, RowOrdering.Compare(new Spread(0.40, 0.01, 0, 0, 3), new Spread(0.30, 0.02, 0, 0, 3), lowerIsBetter: false));
        Assert.Equal(Ordering.LosesTo, RowOrdering.Compare(new Spread(0.30, 0.02, 0, 0, 3), new Spread(0.40, 0.01, 0, 0, 3), lowerIsBetter: false));
        Assert.Equal(Ordering.WithinSpread, RowOrdering.Compare(new Spread(0, 0, 0, 0, 3), new Spread(0, 0, 0, 0, 3), lowerIsBetter: false));
        Assert.Equal(Ordering.WithinSpread, RowOrdering.Compare(new Spread(double.NaN, 0, 0, 0, 1), new Spread(1, 0, 1, 1, 1), lowerIsBetter: true));

        // On rows, metric by metric, and in the report's ordering table.
        var loram = Row("loram-stru", "LoRAM-Stru (0.5)", [3.0, 9, 0.40, 0.5, 0], [3.2, 11, 0.42, 0.5, 0]);   // ppl in 3.1 ± 0.141
        var sibling = Row("sibling-lora", "sibling + LoRA", [4.0, 10, 0.30, 0.5, 0], [4.2, 10, 0.32, 0.5, 0]); // 4.1 ± 0.141
        Assert.Equal(Ordering.Beats, RowOrdering.Compare(loram, sibling, Metric.PerplexityInDomain));
        Assert.Equal(Ordering.WithinSpread, RowOrdering.Compare(loram, sibling, Metric.PerplexityOutOfDomain));   // 10 ± 1.41 against 10 ± 0
        Assert.Equal(Ordering.Beats, RowOrdering.Compare(loram, sibling, Metric.MultipleChoiceAccuracy));
        Assert.Equal(Ordering.LosesTo, RowOrdering.Compare(sibling, loram, Metric.PerplexityInDomain));
        string table = PipelineReport.Orderings([sibling, loram], seeds: 2);
        Assert.Contains("| LoRAM-Stru (0.5) | sibling + LoRA | beats | within spread | beats | within spread | within spread | within spread | within spread |", table);
        Assert.Contains("one seed", PipelineReport.Orderings([sibling, loram], seeds: 1));
        Assert.Equal("", PipelineReport.Orderings([sibling], seeds: 2));
        Assert.Contains("| 3.100 ± 0.141 | 10.000 ± 1.414 | 50.0 % ± 0.0 % (25.0 % ± 0.0 %) | 41.0 % ± 1.4 % (50.0 % ± 0.0 %) |", PipelineReport.Table([loram]));
    }

    [Fact]
    public void Each_seed_of_a_fine_tuned_row_is_its_own_run_and_more_seeds_reuse_the_ones_done()
    {
        var models = _dir.File("models");
        TinyLlama.Write(Path.Combine(models, "base"), new TinyLlamaOptions { Layers = 3, Hidden = 64, Heads = 4, KvHeads = 2, Intermediate = 128, MaxPositions = 256 });
        TinyLlama.Write(Path.Combine(models, "sibling"), new TinyLlamaOptions { Layers = 1, Hidden = 32, Heads = 2, KvHeads = 1, Intermediate = 64, MaxPositions = 256, Seed = 2 });
        var o = new PipelineOptions
        {
            Models = models, Out = _dir.File("run"), Variants = ["loram-stru"], Seeds = 3, Steps = 2, Batch = 2, MicroBatch = 2, SeqLen = 128,
            LearningRate = 1e-2, EvalEvery = 2, CurveItems = 2, Instructions = 10, CorpusChars = 3_000, EvalItems = 3, MathItems = 1, MathMaxNewTokens = 2,
            CalibrationSamples = 2,
        };
        using var cpu = new CpuBackend(2);
        var (rows, _) = new PipelineRunner(o, cpu, LineProgress.None).Run();
        var row = rows.Single();
        {
            Assert.Equal([1, 2, 3], row.Seeds.Select(s => s.Seed));
            var ppl = row.Seeds.Select(s => s.PerplexityInDomain).ToArray();
            Assert.Equal(3, ppl.Distinct().Count());   // the seed changes the LoRA initialization and the data order
            double mean = (ppl[0] + ppl[1] + ppl[2]) / 3;
            double std = Math.Sqrt(((ppl[0] - mean) * (ppl[0] - mean) + (ppl[1] - mean) * (ppl[1] - mean) + (ppl[2] - mean) * (ppl[2] - mean)) / 2);
            Assert.Equal(mean, row.PerplexityInDomain, 12);
            Assert.Equal(std, row.SpreadOf(Metric.PerplexityInDomain).Std, 12);
            Assert.Equal(new LearningRateChoice(1e-2, LearningRateSource.Default), row.LearningRate);
            foreach (int seed in new[] { 1, 2, 3 })
                Assert.True(File.Exists(Path.Combine(o.Out, "variants", row.Name, "lr-0.01", $"seed-{seed}", "result.json")), $"{row.Name} seed {seed}");
        }
        // The seeds of a LoRAM row share its pruned model: only the fine-tuning changes with the seed.
        Assert.Single(Directory.GetDirectories(Path.Combine(o.Out, "variants", "loram-stru"), "pruned", SearchOption.AllDirectories));
        Assert.Equal(3, Directory.GetDirectories(Path.Combine(o.Out, "variants", "loram-stru"), "adapter-recovered", SearchOption.AllDirectories).Length);
        Assert.Equal(3, row.Seeds.Count(s => s.PerplexityWithoutRecovery is double w && w >= 1));

        PipelineReport.Write(o.Out, o, rows, [], cpu.Name, seconds: 1);
        string md = File.ReadAllText(Path.Combine(o.Out, "report.md"));
        Assert.Contains("3 seeds (1–3)", md);
        Assert.Contains($"| {rows[0].PerplexityInDomain:F3} ± {rows[0].SpreadOf(Metric.PerplexityInDomain).Std:F3} |", md);
        Assert.Contains($"- LoRAM-Stru ({o.Ratio:0.##}): lr 1e-2 (default)", md);

        // Fewer seeds, or the same again, train nothing: seed 1's folder is the one-seed row.
        var log = new StringWriter();
        var (one, _) = new PipelineRunner(o with { Seeds = 1 }, cpu, new LineProgress(log)).Run();
        Assert.DoesNotContain("train LoRA", log.ToString());
        Assert.Single(log.ToString().Split('\n'), l => l.Contains("done earlier"));
        Assert.Equal(rows.Select(r => r.Seeds[0].PerplexityInDomain), one.Select(r => r.PerplexityInDomain));
        Assert.All(one, r => Assert.Equal(0, r.SpreadOf(Metric.PerplexityInDomain).Std));
    }
}
