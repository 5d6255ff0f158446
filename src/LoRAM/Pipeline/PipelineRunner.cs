using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LoRAM.Data;
using LoRAM.Evaluation;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Lora;
using LoRAM.Progress;
using LoRAM.Pruning;
using LoRAM.Tensors;
using LoRAM.Training;

namespace LoRAM.Pipeline;

/// <summary>
/// The main job: the paper's core comparison on the embedded default (or any base/sibling pair). Every row uses the
/// same instruction data, steps and hyper-parameters; every served model is scored on the same held-out sets.
/// Each finished row is saved, so an interrupted run resumes where it stopped; OUT/inputs.json fingerprints the models and
/// settings, so a folder's rows are reused only for the same inputs. Layout of a row's folder OUT/variants/NAME:
/// <list type="bullet">
/// <item>a row that trains nothing (<c>base</c>): <c>result.json</c>;</item>
/// <item>a fine-tuned row: one folder per learning rate and seed, <c>lr-LR/seed-K/</c> (adapter, recovered adapter,
/// <c>training.json</c>, <c>result.json</c>), K = Seed … Seed + Seeds − 1. The learning rate and the LoRA seed are in the
/// path, not in the fingerprint: running more seeds, or another learning rate, reuses every seed folder already there.
/// The pruned (and aligned) model of a LoRAM row is shared by its seeds at <c>pruned/</c> (<c>aligned/</c>): pruning,
/// calibration and alignment keep seed <see cref="PipelineOptions.Seed"/>; only the fine-tuning changes with the seed.</item>
/// </list>
/// </summary>
public sealed class PipelineRunner(PipelineOptions o, Backend backend, IProgressReporter progress)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
    private string BaseModel => Path.Combine(o.Models, "base");
    private string SiblingModel => Path.Combine(o.Models, "sibling");
    private string DataDir => Path.Combine(o.Out, "data");

    /// <summary>The align stage's batch: 8 sequences of 256 tokens (micro-batch 4), so a step reads 2,048 tokens.</summary>
    private const int AlignBatch = 8, AlignMicroBatch = 4, AlignSeqLen = 256;
    public const long AlignTokensPerStep = AlignBatch * AlignSeqLen;

    /// <summary>After <see cref="Run"/>: the points of the alignment-steps sweep (<see cref="PipelineOptions.AlignStepsSweep"/>,
    /// the paper's Fig. 5), in the order asked; empty when none was asked for.</summary>
    public IReadOnlyList<VariantResult> AlignSweep { get; private set; } = [];

    public (IReadOnlyList<VariantResult> Rows, IReadOnlyList<VariantResult> Sweep) Run()
    {
        o.Validate();
        var catalogue = Variant.Catalogue(o.Ratio).ToDictionary(v => v.Name);
        var unknown = o.Variants.Where(v => !catalogue.ContainsKey(v)).ToList();
        if (unknown.Count > 0) throw new UserInputException($"--variants: unknown {string.Join(", ", unknown)} (known: {string.Join(", ", catalogue.Keys)})");
        foreach (var m in new[] { BaseModel, SiblingModel })
            if (!File.Exists(Path.Combine(m, ModelFolder.Config))) throw new UserInputException($"{m}: no model there (--models must hold base/ and sibling/)");
        using var outputLock = OutputLock.Inside(o.Out);
        PipelineInputs.Check(o, BaseModel, SiblingModel);

        Stage("data", () =>
        {
            // The generated data is an input of every row too: reused only while its bytes are the ones recorded when it
            // was generated. Changed data with rows computed from the old is refused; without rows it is generated anew.
            string? changed = PipelineInputs.DataMismatch(o.Out, DataDir);
            if (changed is null) return;
            if (PipelineInputs.HasRows(o.Out))
                throw new UserInputException($"{changed}; the rows in {o.Out} were computed from the data as generated: restore it, or choose another --out");
            DataGeneration.Run(new DataOptions
            {
                Out = DataDir, Seed = o.Seed, CorpusChars = o.CorpusChars, CorpusSkipChars = o.CorpusSkipChars, Instructions = o.Instructions + o.ValidationItems,
                EvalSize = Math.Max(Math.Max(o.EvalItems, o.MathItems + o.MathShots), o.KnowledgeItems),
            });
            PipelineInputs.RecordData(o.Out, DataDir);
        });
        ValidationSplit.Write(DataDir, o.Instructions, o.ValidationItems);

        var rows = new List<VariantResult>();
        var sweep = new List<VariantResult>();
        int total = o.Variants.Count + (o.Sweep ? o.SweepRatios.Count : 0) + o.AlignStepsSweep.Count;
        using var task = progress.Start("pipeline", total);
        int i = 0;
        foreach (var name in o.Variants)
        {
            var v = catalogue[name];
            task.Update(rows.Count, $"row {rows.Count + 1}/{total}: {v.Name}");
            rows.Add(RunRow(v, Path.Combine(o.Out, "variants", v.Name), $"[{++i}/{o.Variants.Count}] {v.Label}"));
        }
        if (o.Sweep)
            foreach (var ratio in o.SweepRatios)
            {
                var v = new Variant($"sweep-stru-{ratio.ToString("0.##", CultureInfo.InvariantCulture)}", VariantKind.Loram, PruningMethod.Stru, ratio);
                task.Update(rows.Count + sweep.Count, $"row {rows.Count + sweep.Count + 1}/{total}: {v.Name}");
                sweep.Add(RunRow(v, Path.Combine(o.Out, "sweep", v.Name), $"[sweep] {v.Label}"));
            }
        AlignSweep = AlignStepsSweep(task, rows.Count + sweep.Count, total);
        task.Update(total, "done");
        return (rows, sweep);
    }

    /// <summary>
    /// The paper's Fig. 5: LoRAM-Stru at the rows' ratio, aligned for each step count of
    /// <see cref="PipelineOptions.AlignStepsSweep"/> before LoRA trains on it, each point evaluated with and without
    /// recovery. Every point is a row of its own (OUT/align-sweep/STEPS/, cached and resumed like the others) and a full
    /// alignment run of that many steps with the default recipe (warm-up and cosine decay fit to its length), what a
    /// publisher with that budget would run; 0 is the unaligned model, the same computation as the loram-stru row. (The
    /// official script saves a checkpoint every 200 steps of one 1,600-step run, so the paper's points may be checkpoints
    /// of one schedule, taken before its learning rate has decayed.)
    /// </summary>
    private List<VariantResult> AlignStepsSweep(IProgressTask task, int done, int total)
    {
        var points = new List<VariantResult>();
        foreach (var steps in o.AlignStepsSweep)
        {
            var v = new Variant($"align-steps-{steps}", VariantKind.Loram, PruningMethod.Stru, o.Ratio, Align: steps > 0, AlignSteps: steps);
            var dir = Path.Combine(o.Out, "align-sweep", steps.ToString(CultureInfo.InvariantCulture));
            task.Update(done + points.Count, $"row {done + points.Count + 1}/{total}: {v.Name}");
            points.Add(RunRow(v, dir, $"[align {steps} steps] {v.Label}") with { AlignmentSteps = steps, AlignmentTokens = steps * AlignTokensPerStep });
        }
        return points;
    }

    /// <summary>A row that trains nothing is evaluated once; a fine-tuned row once per seed at its learning rate (swept
    /// on the validation split with <c>--sweep-lr</c>), and its result is the seeds' aggregate (<see cref="VariantResult.Aggregate"/>).</summary>
    private VariantResult RunRow(Variant v, string dir, string title)
    {
        if (v.Kind == VariantKind.BaseNoFineTuning) return Cached(dir, title, () => Untrained(v));
        var lr = o.SweepLr.Count == 0 ? LearningRateChoice.For(o, v.Name)
            : LearningRateChoice.Swept(v.Name, o.SweepLr.Select(rate => new LearningRateTrial(rate, ValidationPerplexity(v, dir, rate, title))).ToList());
        var seeds = Enumerable.Range(o.Seed, o.Seeds).Select(seed => Cached(SeedDir(dir, lr.Rate, seed),
            $"{title}, {lr.Describe()}{(o.Seeds > 1 ? $", seed {seed}" : "")}", () => Scored(v, dir, lr.Rate, seed))).ToList();
        return VariantResult.Aggregate(seeds) with { LearningRate = lr };
    }

    /// <summary>Where row <paramref name="rowDir"/> keeps its run at learning rate <paramref name="lr"/> and LoRA seed
    /// <paramref name="seed"/> (the rate spelled exactly, so two rates never share a folder).</summary>
    private static string SeedDir(string rowDir, double lr, int seed) =>
        Path.Combine(rowDir, "lr-" + lr.ToString("R", CultureInfo.InvariantCulture), "seed-" + seed.ToString(CultureInfo.InvariantCulture));

    private VariantResult Cached(string dir, string title, Func<VariantResult> run)
    {
        var path = Path.Combine(dir, "result.json");
        if (File.Exists(path))
        {
            progress.Line($"{title}: done earlier ({path})");
            // A damaged row is not trusted, nor silently recomputed over the row's other files: refused, naming it.
            VariantResult? cached;
            try { cached = JsonSerializer.Deserialize<VariantResult>(File.ReadAllText(path), Json); }
            catch (JsonException e)
            {
                throw new UserInputException($"{path}: not a complete result ({e.Message.Split('.')[0]}); delete {dir} to compute the row again", e);
            }
            if (cached is null || string.IsNullOrEmpty(cached.Name) || !double.IsFinite(cached.PerplexityInDomain) || cached.PerplexityInDomain < 1)
                throw new UserInputException($"{path}: not a complete result (field 'name' or 'perplexity_in_domain' missing or out of range); delete {dir} to compute the row again");
            return cached;
        }
        progress.Line($"{title} …");
        var clock = Stopwatch.StartNew();
        var result = run() with { RowSeconds = clock.Elapsed.TotalSeconds };
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(result, Json));
        progress.Line($"{title}: done in {clock.Elapsed.TotalSeconds:F0} s — ppl in/out {result.PerplexityInDomain:F2}/{result.PerplexityOutOfDomain:F2}, knowledge {result.KnowledgeAccuracy:P0} (exact {result.KnowledgeExactMatch:P0}), mc {result.MultipleChoiceAccuracy:P0}, math {result.MathAccuracy:P0}");
        return result;
    }

    /// <summary>
    /// A trial of the learning-rate sweep: the row trained at <paramref name="lr"/> with seed <see cref="PipelineOptions.Seed"/>
    /// (the same run its first seed is, so the chosen rate's trial is reused, not repeated), served as the row is served,
    /// and scored by response perplexity on the validation items alone; a training that diverges scores +∞. Saved as
    /// validation.json in that seed folder.
    /// </summary>
    private double ValidationPerplexity(Variant v, string dir, double lr, string title)
    {
        string path = Path.Combine(SeedDir(dir, lr, o.Seed), "validation.json");
        if (File.Exists(path))
        {
            try
            {
                if (JsonSerializer.Deserialize<LearningRateTrial>(File.ReadAllText(path), Json) is { } done && done.LearningRate == lr)
                {
                    progress.Line($"{title}: lr {LearningRateChoice.Format(lr)} done earlier, validation perplexity {done.ValidationPerplexity:F3}");
                    return done.ValidationPerplexity;
                }
            }
            catch (JsonException) { }   // damaged: scored again
        }
        progress.Line($"{title}: lr sweep, lr {LearningRateChoice.Format(lr)} …");
        double ppl;
        try
        {
            var s = RunVariant(v, dir, lr, o.Seed);
            ppl = 0;
            Stage("score validation", () =>
            {
                using var model = ModelLoader.Load(s.Model, backend, s.Adapter);
                var tokenizer = Tokenizers.Load(s.Model, model.Config);
                ppl = Benchmarks.InstructionPerplexity(model, tokenizer, AlpacaFile.Load(Path.Combine(DataDir, ValidationSplit.Validation)), o.SeqLen, progress: Within(v.Name)).Perplexity;
            });
        }
        catch (TrainingDivergedException e)
        {
            progress.Line($"{title}: lr {LearningRateChoice.Format(lr)} diverged ({e.Message})");
            ppl = double.PositiveInfinity;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new LearningRateTrial(lr, ppl), Json));
        progress.Line($"{title}: lr {LearningRateChoice.Format(lr)}: validation perplexity {ppl:F3}");
        return ppl;
    }

    private long BaseParameters => LlamaConfig.Load(Path.Combine(BaseModel, ModelFolder.Config)).ParameterCount();

    /// <summary>The base model as shipped, scored.</summary>
    private VariantResult Untrained(Variant v) => Row(v, BaseParameters, BaseParameters, WeightBytes(BaseModel), null, Evaluate(BaseModel, null, v.Name));

    /// <summary>A fine-tuned row at one learning rate and seed, scored as it is served.</summary>
    private VariantResult Scored(Variant v, string dir, double lr, int seed)
    {
        var s = RunVariant(v, dir, lr, seed);
        var scores = Evaluate(s.Model, s.Adapter, v.Name);
        long p = LlamaConfig.Load(Path.Combine(s.TrainedOn, ModelFolder.Config)).ParameterCount();
        var row = Row(v, p, BaseParameters, s.Report.FrozenWeightBytes, s.Report, scores) with { Curve = s.Curve };
        // Every LoRAM row also scores the pruned model with its own adapter: what recovery adds (or costs).
        if (v.Kind == VariantKind.Loram)
        {
            var without = Evaluate(s.TrainedOn, s.TrainedAdapter, v.Name, withoutRecovery: true);
            row = row with
            {
                PerplexityWithoutRecovery = without.PplIn, PerplexityOutOfDomainWithoutRecovery = without.PplOut,
                KnowledgeAccuracyWithoutRecovery = without.Knowledge?.Accuracy,
            };
        }
        return row with { Seeds = [SeedScores.Of(row, seed)] };
    }

    /// <summary>What a fine-tuned row serves: <see cref="Model"/> with <see cref="Adapter"/> (for LoRAM the base with the
    /// recovered adapter), and the model and adapter it trained.</summary>
    private sealed record Served(string Model, string Adapter, string TrainedOn, string TrainedAdapter, LoraTrainingReport Report, List<CurvePoint> Curve);

    /// <summary>Trains row <paramref name="v"/> at one learning rate and seed (or reuses that training), recovering its
    /// adapter for LoRAM rows.</summary>
    private Served RunVariant(Variant v, string dir, double lr, int seed)
    {
        string seedDir = SeedDir(dir, lr, seed);
        switch (v.Kind)
        {
            case VariantKind.SiblingLora:
            case VariantKind.BaseLora:
            {
                var model = v.Kind == VariantKind.BaseLora ? BaseModel : SiblingModel;
                var adapter = Path.Combine(seedDir, "adapter");
                var (report, curve) = Train(model, seedDir, adapter, nf4: false, v.Name, lr, seed);
                return new Served(model, adapter, model, adapter, report, curve);
            }
            default:
            {
                // W0 → W0^P (prune) → W0^{P,A} (align) → train LoRA (on NF4 when QLoRAM) → R(·) → serve with W0.
                var pruned = Path.Combine(dir, "pruned");
                Stage("prune", () =>
                {
                    if (Directory.Exists(pruned)) return;
                    ModelPruner.Run(new PruneOptions
                    {
                        Model = BaseModel, Out = pruned, Method = v.Method!.Value, Ratio = v.Ratio, KeepFirst = o.KeepFirst, KeepLast = o.KeepLast,
                        Calibration = Path.Combine(DataDir, DataGeneration.Corpus), Samples = o.CalibrationSamples, SeqLen = 128, Seed = o.Seed,
                    }, backend, Within(v.Name));
                });
                var trainOn = pruned;
                if (v.Align)
                {
                    trainOn = Path.Combine(dir, "aligned");
                    var alignedDir = trainOn;
                    Stage("align", () =>
                    {
                        if (File.Exists(Path.Combine(alignedDir, Pretraining.ReportFile))) return;
                        Alignment.Run(new AlignmentOptions
                        {
                            Model = pruned, Data = Path.Combine(DataDir, DataGeneration.Corpus), Out = alignedDir,
                            Tokens = v.AlignSteps is int steps ? steps * AlignTokensPerStep : o.AlignTokens,
                            SeqLen = AlignSeqLen, Batch = AlignBatch, MicroBatch = AlignMicroBatch, Seed = o.Seed, CheckpointEvery = 0, KeepCheckpoints = 1, EvalSequences = 8,
                        }, backend, Within(v.Name));
                    });
                }
                var adapter = Path.Combine(seedDir, "adapter-pruned");
                var (report, curve) = Train(trainOn, seedDir, adapter, v.Nf4, v.Name, lr, seed);
                var recovered = Path.Combine(seedDir, "adapter-recovered");
                Stage("recover", () =>
                {
                    // Written last, the recovery record marks a finished recovery of this training (a retraining clears the seed folder).
                    if (File.Exists(Path.Combine(recovered, AdapterRecovery.RecoveryFile))) return;
                    if (Directory.Exists(recovered)) Directory.Delete(recovered, recursive: true);
                    AdapterRecovery.Recover(adapter, trainOn, LlamaConfig.Load(Path.Combine(BaseModel, ModelFolder.Config)), recovered, Path.GetFullPath(BaseModel));
                });
                return new Served(BaseModel, recovered, trainOn, adapter, report, curve);
            }
        }
    }

    private static VariantResult Row(Variant v, long trainedParams, long baseParams, long weightBytes, LoraTrainingReport? report, Scores s) => new()
    {
        Name = v.Name, Label = v.Label, TrainedModelParameters = trainedParams, ReductionRatio = (double)baseParams / trainedParams,
        TrainedModelWeightBytes = weightBytes,
        PeakTrainingBytes = report?.PeakTotalBytes,
        TrainingTokensPerSecond = report?.TokensPerS,
        TrainingSeconds = report?.Seconds,
        AdapterParameters = report?.AdapterParameters,
        PerplexityInDomain = s.PplIn, PerplexityOutOfDomain = s.PplOut,
        MultipleChoiceAccuracy = s.Mc, MultipleChoiceAccuracyNorm = s.McNorm, MathAccuracy = s.Math,
        KnowledgeAccuracy = s.Knowledge?.Accuracy ?? double.NaN, KnowledgeAccuracyNorm = s.Knowledge?.AccuracyNorm ?? double.NaN,
        KnowledgeExactMatch = s.Knowledge?.ExactMatch ?? double.NaN, KnowledgeTiers = s.Knowledge?.Tiers ?? [],
    };

    /// <summary>A finished LoRA training of a seed folder: the training job's report and the held-out curve.</summary>
    private sealed record TrainingRun(LoraTrainingReport Report, List<CurvePoint> Curve);

    /// <summary>Trains LoRA into <paramref name="outDir"/> inside <paramref name="seedDir"/> with learning rate
    /// <paramref name="lr"/> and seed <paramref name="seed"/> (LoRA initialization and data order), or reuses the training
    /// that seed folder finished earlier (its <c>training.json</c> beside a saved adapter).</summary>
    private (LoraTrainingReport Report, List<CurvePoint> Curve) Train(string model, string seedDir, string outDir, bool nf4, string row, double lr, int seed)
    {
        string done = Path.Combine(seedDir, "training.json");
        if (File.Exists(done) && File.Exists(Path.Combine(outDir, PeftAdapterFormat.WeightsFile)))
        {
            try
            {
                if (JsonSerializer.Deserialize<TrainingRun>(File.ReadAllText(done), Json) is { Report: not null, Curve: not null } run) return (run.Report, run.Curve);
            }
            catch (JsonException) { }   // a damaged record of a training: trained again below, like an unfinished one
        }
        var curve = new List<CurvePoint>();
        LoraTrainingReport? report = null;
        Stage(nf4 ? "train LoRA (NF4 base)" : "train LoRA", () =>
        {
            // A half-finished run restarts (it is short), and whatever was computed from an earlier training goes with it.
            if (Directory.Exists(seedDir)) Directory.Delete(seedDir, recursive: true);
            report = LoraTraining.Run(new LoraTrainingOptions
            {
                Model = model, Data = Path.Combine(DataDir, ValidationSplit.Train), Out = outDir,
                Lora = o.RowLora(),
                Steps = o.Steps, Batch = o.Batch, MicroBatch = o.MicroBatch, MaxLength = o.SeqLen, LearningRate = lr,
                Seed = seed, Nf4 = nf4, Eval = Path.Combine(DataDir, DataGeneration.PplIn), EvalEvery = o.EvalEvery, EvalItems = o.CurveItems, LogEvery = 10,
            }, backend, Within(row), step => { if (step.EvalLoss is double nll) curve.Add(new CurvePoint(step.Step, Math.Exp(nll))); });
        });
        AtomicFile.WriteAllText(done, JsonSerializer.Serialize(new TrainingRun(report!, curve), Json));
        return (report!, curve);
    }

    private readonly record struct Scores(double PplIn, double PplOut, double Mc, double McNorm, double Math, KnowledgeScore? Knowledge);

    /// <summary>The served model (with an adapter, unmerged) on the held-out sets: the same for every row. Without
    /// recovery (the pruned model with its own adapter): perplexities and knowledge only.</summary>
    private Scores Evaluate(string modelDir, string? adapter, string row, bool withoutRecovery = false)
    {
        Scores scores = default;
        Stage(adapter is null ? "evaluate" : "evaluate with adapter", () =>
        {
            var bars = Within(row);
            using var model = ModelLoader.Load(modelDir, backend, adapter);
            var tokenizer = Tokenizers.Load(modelDir, model.Config);
            var pplIn = Benchmarks.InstructionPerplexity(model, tokenizer, AlpacaFile.Load(Path.Combine(DataDir, DataGeneration.PplIn)).Take(o.EvalItems), o.SeqLen, progress: bars).Perplexity;
            var knowledgeFile = Path.Combine(DataDir, DataGeneration.Knowledge);
            var knowledge = o.KnowledgeItems > 0 && File.Exists(knowledgeFile)
                ? Benchmarks.Knowledge(model, tokenizer, KnowledgeFile.Load(knowledgeFile).Take(o.KnowledgeItems).ToList(), progress: bars) : null;
            var pplOut = Benchmarks.InstructionPerplexity(model, tokenizer, AlpacaFile.Load(Path.Combine(DataDir, DataGeneration.PplOut)).Take(o.EvalItems), o.SeqLen, progress: bars).Perplexity;
            if (withoutRecovery) { scores = new Scores(pplIn, pplOut, double.NaN, double.NaN, double.NaN, knowledge); return; }
            var mc = Benchmarks.MultipleChoice(model, tokenizer, MultipleChoiceFile.Load(Path.Combine(DataDir, DataGeneration.MultipleChoice)).Take(o.EvalItems).ToList(), progress: bars);
            var math = Gsm8kFile.Load(Path.Combine(DataDir, DataGeneration.Math));
            var shots = math.Take(o.MathShots).ToList();
            var m = Benchmarks.MathProblems(model, tokenizer, math.Skip(o.MathShots).Take(o.MathItems).ToList(), shots, o.MathMaxNewTokens, progress: bars);
            scores = new Scores(pplIn, pplOut, mc.Accuracy, mc.AccuracyNorm, m.Accuracy, knowledge);
        });
        return scores;
    }

    private static long WeightBytes(string folder)
    {
        using var cpu = new Tensors.Cpu.CpuBackend(1);
        using var model = LlamaModel.Load(folder, cpu);
        return model.WeightBytes();
    }

    private void Stage(string name, Action action)
    {
        var clock = Stopwatch.StartNew();
        progress.Line($"  · {name}");
        action();
        if (clock.Elapsed.TotalSeconds >= 1) progress.Line($"  · {name}: {clock.Elapsed.TotalSeconds:F0} s");
    }

    /// <summary>A stage of row <paramref name="row"/>: its lines indented under the row's, its bars named after it.</summary>
    private IProgressReporter Within(string row) => new NestedProgress(progress, "    ", row);
}
