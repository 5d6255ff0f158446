using LoRAM.Llama.Tests.Support;
using System.Diagnostics;
using System.Text.Json;
using LoRAM.Pipeline;
using LoRAM.Progress;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Pipeline;

/// <summary>The whole method on CPU, end to end, on tiny models: the "unit-test the full pipeline" promise.</summary>
public sealed class PipelineTests : IDisposable
{
    private readonly TempFolder _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_pipeline_runs_every_kind_of_row_end_to_end_writes_its_report_and_resumes()
    {
        var clock = Stopwatch.StartNew();
        var models = Path.Combine(_dir.Path, "models");
        TinyLlama.Write(Path.Combine(models, "base"), new TinyLlamaOptions { Layers = 4, Hidden = 64, Heads = 4, KvHeads = 2, Intermediate = 128, MaxPositions = 512 });
        TinyLlama.Write(Path.Combine(models, "sibling"), new TinyLlamaOptions { Layers = 2, Hidden = 32, Heads = 2, KvHeads = 1, Intermediate = 64, MaxPositions = 512, Seed = 2 });
        var o = new PipelineOptions
        {
            Models = models, Out = Path.Combine(_dir.Path, "run"),
            Variants = ["base", "sibling-lora", "base-lora", "loram-stru", "loram-unst-aligned", "qloram-stru"],
            Sweep = true, SweepRatios = [0.5], Steps = 3, Batch = 4, MicroBatch = 2, SeqLen = 256, EvalEvery = 3, CurveItems = 4,
            AlignTokens = 2048, Instructions = 40, CorpusChars = 30_000, EvalItems = 6, MathItems = 2, MathMaxNewTokens = 8, CalibrationSamples = 4,
        };
        using var cpu = new CpuBackend(2);
        var log = new StringWriter();
        var (rows, sweep) = new PipelineRunner(o, cpu, new LineProgress(log)).Run();
        // The library draws no figures itself: the report lists and links what its figure hook drew (the CLI's draws PNGs).
        IReadOnlyList<VariantResult>? drawnRows = null, drawnSweep = null;
        var files = PipelineReport.Write(o.Out, o, rows, sweep, cpu.Name, clock.Elapsed.TotalSeconds, (dir, r, s, _) =>
        {
            (drawnRows, drawnSweep) = (r, s);
            File.WriteAllText(Path.Combine(dir, "figure.png"), "drawn");
            return ["figure.png"];
        });

        Assert.Equal(6, rows.Count);
        var base0 = rows.Single(r => r.Name == "base");
        var stru = rows.Single(r => r.Name == "loram-stru");
        var unst = rows.Single(r => r.Name == "loram-unst-aligned");
        var q = rows.Single(r => r.Name == "qloram-stru");
        Assert.Equal(1.0, base0.ReductionRatio);
        Assert.True(stru.ReductionRatio > 1.2, $"stru reduction {stru.ReductionRatio}");
        Assert.Equal(1.0, unst.ReductionRatio);                                   // same shape, masks instead
        Assert.True(q.TrainedModelWeightBytes < 0.6 * stru.TrainedModelWeightBytes); // NF4 projections vs BF16/F32
        Assert.All(rows.Where(r => r.Name != "base"), r => Assert.NotEmpty(r.Curve));
        Assert.All(rows, r => Assert.True(double.IsFinite(r.PerplexityInDomain) && r.PerplexityInDomain >= 1, $"{r.Name}: {r.PerplexityInDomain}"));
        Assert.NotNull(sweep.Single().PerplexityWithoutRecovery);
        Assert.All(rows.Where(r => r.Name.Contains("loram")), r => Assert.NotNull(r.PerplexityWithoutRecovery));
        Assert.All(rows.Where(r => r.Name.Contains("loram")), r => Assert.True(r.PerplexityOutOfDomainWithoutRecovery >= 1, $"{r.Name}: {r.PerplexityOutOfDomainWithoutRecovery}"));
        Assert.All(rows.Where(r => !r.Name.Contains("loram")), r => Assert.Null(r.PerplexityWithoutRecovery));
        Assert.Contains("report.md", files);
        Assert.Same(rows, drawnRows);
        Assert.Same(sweep, drawnSweep);
        Assert.Contains("figure.png", files);
        Assert.Contains("![figure.png](figure.png)", File.ReadAllText(Path.Combine(o.Out, "report.md")));
        using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(o.Out, "report.json"))))
            Assert.Equal(6, report.RootElement.GetProperty("variants").GetArrayLength());

        // A rerun finds every row done and recomputes nothing.
        var again = new StringWriter();
        var (rows2, _) = new PipelineRunner(o, cpu, new LineProgress(again)).Run();
        Assert.Equal(rows.Select(r => r.PerplexityInDomain), rows2.Select(r => r.PerplexityInDomain));
        Assert.Equal(7, again.ToString().Split('\n').Count(l => l.Contains("done earlier")));
        Assert.All(rows2, r => Assert.True(r.RowSeconds > 0, $"{r.Name}: row time {r.RowSeconds}"));
        PipelineReport.Write(o.Out, o, rows2, sweep, cpu.Name, seconds: 0.2);       // a report of reused rows
        Assert.Contains("min of row work in all (rows reused from earlier runs)", File.ReadAllText(Path.Combine(o.Out, "report.md")));

        // Other settings or retrained models never reuse these rows: the folder is refused, with the reason.
        var changed = Assert.Throws<UserInputException>(() => new PipelineRunner(o with { Steps = 4 }, cpu, LineProgress.None).Run());
        Assert.Contains("other models or settings", changed.Message);
        Assert.Contains(o.Out, changed.Message);
        new PipelineRunner(o with { Variants = ["base"], Sweep = false }, cpu, LineProgress.None).Run();   // choosing rows is not a change
        TinyLlama.Write(Path.Combine(models, "sibling"), new TinyLlamaOptions { Layers = 2, Hidden = 32, Heads = 2, KvHeads = 1, Intermediate = 64, MaxPositions = 512, Seed = 3 });
        Assert.Throws<UserInputException>(() => new PipelineRunner(o, cpu, LineProgress.None).Run());
    }

    /// <summary>
    /// Fine-tuning does what it is for: LoRA on the base model lowers its in-domain perplexity below the base model's
    /// own. Measured on this tiny random model (lr 1e-2, batch 4) with data seeds 1–3: the base scores 278–294 (about a
    /// uniform guess over 259 bytes); base-lora 187–197 after 5 steps, 131–134 after 10 and 116–126 after 20, so at 20
    /// steps the asserted bound (below 0.6 × the base, i.e. under ~167) holds with a wide margin.
    /// </summary>
    [Fact]
    public void Lora_fine_tuning_beats_the_base_model_in_domain()
    {
        var models = Path.Combine(_dir.Path, "models");
        TinyLlama.Write(Path.Combine(models, "base"), new TinyLlamaOptions { Layers = 2, Hidden = 64, Heads = 4, KvHeads = 2, Intermediate = 128, MaxPositions = 512 });
        TinyLlama.Write(Path.Combine(models, "sibling"), new TinyLlamaOptions { Layers = 1, Hidden = 32, Heads = 2, KvHeads = 1, Intermediate = 64, MaxPositions = 512, Seed = 2 });
        var o = new PipelineOptions
        {
            Models = models, Out = Path.Combine(_dir.Path, "tuned"), Variants = ["base", "base-lora"], Steps = 20, Batch = 4, MicroBatch = 4, SeqLen = 256,
            LearningRate = 1e-2, EvalEvery = 20, CurveItems = 4, Instructions = 80, CorpusChars = 5_000, EvalItems = 12, MathItems = 1, MathMaxNewTokens = 4,
        };
        using var cpu = new CpuBackend(2);
        var (rows, _) = new PipelineRunner(o, cpu, LineProgress.None).Run();
        double base0 = rows.Single(r => r.Name == "base").PerplexityInDomain, tuned = rows.Single(r => r.Name == "base-lora").PerplexityInDomain;
        Assert.True(tuned < 0.6 * base0, $"base-lora perplexity {tuned:F2} is not below 0.6 × the base model's {base0:F2}");
    }

    /// <summary>The rows the end-to-end test above does not run, each to completion at the smallest size: every variant of
    /// the catalogue gives a finished row with finite scores, and the pruned ones a smaller trained model.</summary>
    [Fact]
    public void Every_other_variant_of_the_catalogue_runs_to_a_finished_row()
    {
        var models = Path.Combine(_dir.Path, "models");
        TinyLlama.Write(Path.Combine(models, "base"), new TinyLlamaOptions { Layers = 4, Hidden = 64, Heads = 4, KvHeads = 2, Intermediate = 128, MaxPositions = 512 });
        TinyLlama.Write(Path.Combine(models, "sibling"), new TinyLlamaOptions { Layers = 2, Hidden = 32, Heads = 2, KvHeads = 1, Intermediate = 64, MaxPositions = 512, Seed = 2 });
        string[] others = ["loram-rand", "loram-rand-aligned", "loram-stru-aligned", "loram-semi", "loram-semi-aligned", "loram-unst", "qloram-stru-aligned"];
        Assert.Equal(13, Variant.Catalogue(0.5).Count);
        Assert.Equal(Variant.Catalogue(0.5).Select(v => v.Name).Except(["base", "sibling-lora", "base-lora", "loram-stru", "loram-unst-aligned", "qloram-stru"]).Order(), others.Order());
        var o = new PipelineOptions
        {
            Models = models, Out = Path.Combine(_dir.Path, "others"), Variants = others, Steps = 1, Batch = 2, MicroBatch = 2, SeqLen = 128, EvalEvery = 1,
            CurveItems = 2, AlignTokens = 256, Instructions = 10, CorpusChars = 5_000, EvalItems = 2, MathItems = 1, MathMaxNewTokens = 2, CalibrationSamples = 2,
        };
        using var cpu = new CpuBackend(2);
        var (rows, _) = new PipelineRunner(o, cpu, LineProgress.None).Run();
        Assert.Equal(others, rows.Select(r => r.Name));
        Assert.All(rows, r => Assert.True(double.IsFinite(r.PerplexityInDomain) && r.PerplexityInDomain >= 1, $"{r.Name}: {r.PerplexityInDomain}"));
        Assert.All(rows.Where(r => r.Name.Contains("rand") || r.Name.Contains("stru")), r => Assert.True(r.ReductionRatio > 1.2, $"{r.Name}: {r.ReductionRatio}"));
        Assert.All(rows.Where(r => r.Name.Contains("semi") || r.Name.Contains("unst")), r => Assert.Equal(1.0, r.ReductionRatio));
        Assert.All(rows, r => Assert.NotEmpty(r.Curve));
    }

    /// <summary>
    /// The paper's Fig. 5 on tiny models: LoRAM-Stru after 0 and 2 alignment steps, each point a cached row under
    /// OUT/align-sweep/STEPS/ that a rerun reuses; 0 is the unaligned model, computed as the loram-stru row is, so its
    /// numbers are that row's. The alignment read the pipeline's corpus, which starts after the pre-training prefix.
    /// </summary>
    [Fact]
    public void The_alignment_steps_sweep_caches_each_point_and_zero_steps_is_the_plain_loram_stru_row()
    {
        var models = Path.Combine(_dir.Path, "models");
        TinyLlama.Write(Path.Combine(models, "base"), new TinyLlamaOptions { Layers = 3, Hidden = 32, Heads = 4, KvHeads = 2, Intermediate = 64, MaxPositions = 256 });
        TinyLlama.Write(Path.Combine(models, "sibling"), new TinyLlamaOptions { Layers = 1, Hidden = 32, Heads = 2, KvHeads = 1, Intermediate = 32, MaxPositions = 256, Seed = 2 });
        var o = new PipelineOptions
        {
            Models = models, Out = Path.Combine(_dir.Path, "fig5"), Variants = ["loram-stru"], AlignStepsSweep = [0, 2], KeepFirst = 1, KeepLast = 1,
            Steps = 1, Batch = 2, MicroBatch = 2, SeqLen = 128, EvalEvery = 1, CurveItems = 2, Instructions = 10, CorpusChars = 6_000, EvalItems = 3,
            MathItems = 1, MathMaxNewTokens = 2, KnowledgeItems = 2, CalibrationSamples = 2,
        };
        using var cpu = new CpuBackend(2);
        var runner = new PipelineRunner(o, cpu, LineProgress.None);
        var (rows, _) = runner.Run();
        var stru = rows.Single();
        Assert.Equal([0, 2], runner.AlignSweep.Select(p => p.AlignmentSteps!.Value));
        Assert.Equal([0L, 2 * PipelineRunner.AlignTokensPerStep], runner.AlignSweep.Select(p => p.AlignmentTokens!.Value));
        var (unaligned, aligned) = (runner.AlignSweep[0], runner.AlignSweep[1]);
        Assert.Equal(stru.Label, unaligned.Label);
        Assert.Equal($"LoRAM-Stru + align 2 steps ({o.Ratio:0.##})", aligned.Label);
        foreach (var score in new Func<VariantResult, double?>[]
                 {
                     r => r.PerplexityInDomain, r => r.PerplexityOutOfDomain, r => r.PerplexityWithoutRecovery, r => r.PerplexityOutOfDomainWithoutRecovery,
                     r => r.MultipleChoiceAccuracy, r => r.TrainedModelParameters,
                 })
            Assert.Equal(score(stru), score(unaligned));
        Assert.NotEqual(stru.PerplexityWithoutRecovery, aligned.PerplexityWithoutRecovery);   // the aligned pruned model is another model
        Assert.Equal(stru.TrainedModelParameters, aligned.TrainedModelParameters);

        // The point's alignment: 2 steps of the default recipe (lm_head frozen), on text after the pre-training prefix.
        Assert.False(Directory.Exists(Path.Combine(o.Out, "align-sweep", "0", "aligned")));
        using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(o.Out, "align-sweep", "2", "aligned", "report.json"))))
        {
            Assert.Equal(2, report.RootElement.GetProperty("steps").GetInt32());
            Assert.Equal(3.33e-4, report.RootElement.GetProperty("lr").GetDouble(), 12);
            Assert.False(report.RootElement.GetProperty("weight_change").TryGetProperty("lm_head.weight", out _));
        }
        var generator = new LoRAM.Data.CorpusGenerator(LoRAM.Data.World.Generate(o.Seed), o.Seed);
        Assert.Equal(LoRAM.Data.CorpusPrefix.After(generator.Documents(), o.CorpusSkipChars).First(),
            LoRAM.Data.PlainTextCorpus.Load(Path.Combine(o.Out, "data", "corpus.txt"))[0]);

        // The report: a table, report.json's align_sweep, and the points handed to the figure hook.
        IReadOnlyList<VariantResult>? drawn = null;
        PipelineReport.Write(o.Out, o, rows, [], cpu.Name, 1, (_, _, _, a) => { drawn = a; return []; }, runner.AlignSweep);
        Assert.Same(runner.AlignSweep, drawn);
        Assert.Contains("## LoRAM-Stru by alignment steps (Fig. 5)", File.ReadAllText(Path.Combine(o.Out, "report.md")));
        using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(o.Out, "report.json"))))
            Assert.Equal(2, report.RootElement.GetProperty("align_sweep").GetArrayLength());

        // A rerun computes nothing; asking for fewer points is not another setting, and reuses them.
        var again = new StringWriter();
        var rerun = new PipelineRunner(o, cpu, new LineProgress(again));
        rerun.Run();
        Assert.Equal(3, again.ToString().Split('\n').Count(l => l.Contains("done earlier")));
        Assert.Equal(runner.AlignSweep.Select(p => p.PerplexityInDomain), rerun.AlignSweep.Select(p => p.PerplexityInDomain));
        var fewer = new PipelineRunner(o with { Variants = ["loram-stru"], AlignStepsSweep = [2] }, cpu, LineProgress.None);
        fewer.Run();
        Assert.Equal(aligned.PerplexityInDomain, fewer.AlignSweep.Single().PerplexityInDomain);
        Assert.Throws<UserInputException>(() => new PipelineRunner(o with { AlignStepsSweep = [2, 2] }, cpu, LineProgress.None).Run());
    }
}
