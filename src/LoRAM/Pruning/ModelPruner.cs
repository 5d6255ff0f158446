using System.Diagnostics;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tokenization;
using LoRAM.Planning;
using LoRAM.Progress;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Pruning;

/// <summary>What <c>loram prune</c> is asked to do.</summary>
public sealed record PruneOptions
{
    public required string Model { get; init; }
    public required string Out { get; init; }
    public required PruningMethod Method { get; init; }
    /// <summary>Fraction removed (ignored for N:M targets, whose ratio is 1 − N/M).</summary>
    public double Ratio { get; init; }
    /// <summary>N:M target: semi's (default 4:8), or wanda/magnitude in N:M mode.</summary>
    public SparsityTarget? NM { get; init; }
    public string? Calibration { get; init; }
    /// <summary>Calibration samples; default 10 for stru (LLM-Pruner), 128 for the SparseGPT-style methods.</summary>
    public int? Samples { get; init; }
    public int SeqLen { get; init; } = 128;
    public int Seed { get; init; } = 1;
    public int? KeepFirst { get; init; }
    public int? KeepLast { get; init; }
    public TaylorVariant Taylor { get; init; } = TaylorVariant.Element;

    /// <summary>Checks every setting before any work; throws <see cref="UserInputException"/> naming the flag.</summary>
    public void Validate()
    {
        if (NM is null && !(Ratio >= 0 && Ratio < 1)) throw new UserInputException($"--ratio must be in [0, 1), got {Ratio}");
        if (Samples < 1) throw new UserInputException($"--samples must be 1 or more, got {Samples}");
        if (SeqLen < 2) throw new UserInputException($"--seq-len must be 2 or more, got {SeqLen}");
        if (KeepFirst < 0) throw new UserInputException($"--keep-first must be 0 or more, got {KeepFirst}");
        if (KeepLast < 0) throw new UserInputException($"--keep-last must be 0 or more, got {KeepLast}");
    }
}

/// <summary>What <c>loram prune</c> did, for its summary and <c>--json</c>.</summary>
public sealed record PruneReport(string Out, string Method, double Ratio, string? NM, int KeepFirst, int KeepLast,
    long ParametersBefore, long ParametersAfter, double ReductionRatio, bool ReducesMemory, int Samples, int SeqLen,
    double? CalibrationLoss, double? MeanRelativeError, double Seconds);

/// <summary>
/// The whole of <c>loram prune</c>: W0 (a model folder) → W0^P (a new folder), written into a temporary sibling
/// folder and renamed into place at the end, so --out is either absent or complete.
/// Structured (rand, stru): a smaller dense LLaMA + loram_pruning.json with the kept indices.
/// Non-structured (semi, unst, wanda, magnitude): same shapes, pruned weights zeroed (SparseGPT also updates
/// the kept ones), masks.safetensors + loram_pruning.json.
/// </summary>
public static class ModelPruner
{
    public static PruneReport Run(PruneOptions o, Backend backend, IProgressReporter? progress = null)
    {
        progress ??= LineProgress.None;
        o.Validate();
        var clock = Stopwatch.StartNew();
        var configPath = Path.Combine(o.Model, ModelFolder.Config);
        if (!File.Exists(configPath)) throw new UserInputException($"{o.Model}: not a model folder (no {ModelFolder.Config})");
        var config = LlamaConfig.Load(configPath);
        var outFull = Path.GetFullPath(o.Out);
        if (File.Exists(outFull)) throw new UserInputException($"{o.Out}: is a file, --out needs a folder");
        if (Directory.Exists(outFull) && Directory.EnumerateFileSystemEntries(outFull).Any())
            throw new UserInputException($"{o.Out}: already exists and is not empty; choose a new --out");
        if (Path.GetFullPath(o.Model).TrimEnd(Path.DirectorySeparatorChar) == outFull.TrimEnd(Path.DirectorySeparatorChar))
            throw new UserInputException("--out must differ from --model");

        ParameterPlan plan;
        try { plan = ParameterPlan.For(config, o.Method, o.Ratio, o.NM, o.KeepFirst, o.KeepLast); }
        catch (ArgumentException e) { throw new UserInputException(e.Message, e); }
        // A run that prunes nothing and exits 0 looks like success; with the structured defaults (4 + 2) that is any model of ≤ 6 layers.
        if (plan.KeepFirst + plan.KeepLast >= config.NumHiddenLayers)
            throw new UserInputException($"--keep-first {plan.KeepFirst} + --keep-last {plan.KeepLast} keep all {config.NumHiddenLayers} layers of {o.Model} whole, so nothing would be pruned; pass smaller --keep-first/--keep-last");

        using var outputLock = OutputLock.Beside(outFull);
        var summary = AtomicFolder.Write(outFull, tmp => o.Method.IsStructured()
            ? Structured(o, config, plan, backend, tmp, progress)
            : NonStructured(o, config, plan, backend, tmp, progress), progress.Line);
        return summary with { Out = outFull, Seconds = clock.Elapsed.TotalSeconds };
    }

    private static (int[][] Samples, string Source, int SeqLen) Calibrate(PruneOptions o, LlamaConfig config, int defaultSamples)
    {
        int seqLen = Math.Min(o.SeqLen, config.MaxPositionEmbeddings - 1);
        var tokenizer = Tokenizers.Load(o.Model);
        var (samples, source) = CalibrationData.Load(o.Calibration, tokenizer, o.Samples ?? defaultSamples, seqLen, o.Seed);
        foreach (var s in samples)
            foreach (int id in s)
                if (id < 0 || id >= config.VocabSize)
                    throw new UserInputException($"{o.Model}: the tokenizer produced id {id}, outside the model's vocabulary of {config.VocabSize}");
        return (samples, source, seqLen);
    }

    private static PruneReport Structured(PruneOptions o, LlamaConfig config, ParameterPlan plan, Backend backend, string tmp, IProgressReporter progress)
    {
        TaylorImportance.LayerScores[]? scores = null;
        PruningRecord.CalibrationInfo? calibration = null;
        double? loss = null;
        int samplesUsed = 0, seqLen = 0;
        if (o.Method == PruningMethod.Stru)
        {
            var (samples, source, len) = Calibrate(o, config, defaultSamples: 10);
            (samplesUsed, seqLen) = (samples.Length, len);
            calibration = new PruningRecord.CalibrationInfo(source, samples.Length, len);
            progress.Line($"stru: Taylor importance ({o.Taylor.ToString().ToLowerInvariant()}-wise) from {samples.Length} samples of {len} tokens");
            // Frozen in its stored dtype: the scores gather while backward passes each layer, no weight gets a gradient buffer.
            using (var model = LlamaModel.Load(o.Model, backend))
                (scores, loss) = TaylorImportance.ComputeLean(model, samples, o.Taylor, progress: progress);
            backend.TrimPool();   // the calibration activations are done with: their blocks go back before the pruned model is written
        }
        var layers = StructuredSelection.Select(config, plan.Ratio, plan.KeepFirst, plan.KeepLast, scores, o.Seed);
        foreach (var l in layers.Where(l => l.Pruned))
            progress.Line($"layer {l.Layer + 1}/{layers.Length}: keeps {l.KeptKvHeads!.Length}/{l.OriginalKvHeads} kv groups ({l.KeptHeads!.Length}/{l.OriginalHeads} heads), {l.KeptChannels!.Length}/{l.OriginalIntermediate} channels");

        using var cpu = new CpuBackend();
        using var weights = LlamaWeights.Load(o.Model, cpu);
        var prunedConfig = StructuredPruning.Save(weights, layers, tmp, cpu, tokenizerFrom: o.Model);
        long after = prunedConfig.ParameterCount();
        var record = new PruningRecord
        {
            Method = o.Method, Ratio = plan.Ratio, KeepFirst = plan.KeepFirst, KeepLast = plan.KeepLast,
            Importance = o.Method == PruningMethod.Stru ? $"taylor-{o.Taylor.ToString().ToLowerInvariant()}" : "random",
            Seed = o.Seed, Calibration = calibration,
            HiddenSize = config.HiddenSize, NumHiddenLayers = config.NumHiddenLayers, HeadDim = config.HeadDim, VocabSize = config.VocabSize,
            OriginalParameters = config.ParameterCount(), PrunedParameters = after, Layers = layers,
        };
        record.ValidateAgainst(prunedConfig, "the new pruning record");
        record.Save(tmp);
        return new PruneReport("", o.Method.Name(), plan.Ratio, null, plan.KeepFirst, plan.KeepLast, record.OriginalParameters, after,
            (double)record.OriginalParameters / after, true, samplesUsed, seqLen, loss, null, 0);
    }

    private static PruneReport NonStructured(PruneOptions o, LlamaConfig config, ParameterPlan plan, Backend backend, string tmp, IProgressReporter progress)
    {
        var target = plan.NM is not null ? (o.NM ?? SparsityTarget.SemiStructured(4, 8)) : SparsityTarget.Unstructured(plan.Ratio);
        int[][] samples = [];
        string source = "none (magnitude needs no data)";
        int seqLen = 0;
        if (o.Method != PruningMethod.Magnitude) (samples, source, seqLen) = Calibrate(o, config, defaultSamples: 128);
        progress.Line($"{o.Method.Name()}: {target}, layers {plan.KeepFirst}..{config.NumHiddenLayers - plan.KeepLast - 1}, {samples.Length} calibration samples of {seqLen} tokens");

        DType stored;
        using (var checkpoint = SafetensorsCheckpoint.Open(o.Model))
            stored = checkpoint[LlamaTensorNames.Embedding].DType ?? DType.F32;
        List<SequentialPruning.ProjectionResult> results;
        using (var model = LlamaModel.Load(o.Model, backend, new LlamaModelOptions { FrozenDType = DType.F32 }))
        {
            try
            {
                results = SequentialPruning.Run(model, samples, seqLen, o.Method, target, plan.KeepFirst, plan.KeepLast, progress);
            }
            catch (ArgumentException e) { throw new UserInputException($"{o.Model}: {e.Message}", e); }
            model.Save(tmp, stored, tokenizerFrom: o.Model);
        }
        MaskFile.Save(Path.Combine(tmp, MaskFile.FileName), results.Select(r => (r.Name, r.Mask)));
        long removed = results.Sum(r => r.Mask.PrunedCount);
        var record = new PruningRecord
        {
            Method = o.Method, Ratio = plan.Ratio, NM = plan.NM, KeepFirst = plan.KeepFirst, KeepLast = plan.KeepLast,
            Importance = o.Method switch { PruningMethod.Wanda => "wanda", PruningMethod.Magnitude => "magnitude", _ => "sparsegpt" },
            Seed = o.Seed,
            Calibration = o.Method == PruningMethod.Magnitude ? null : new PruningRecord.CalibrationInfo(source, samples.Length, seqLen),
            HiddenSize = config.HiddenSize, NumHiddenLayers = config.NumHiddenLayers, HeadDim = config.HeadDim, VocabSize = config.VocabSize,
            OriginalParameters = config.ParameterCount(), PrunedParameters = config.ParameterCount() - removed,
            Layers = Enumerable.Range(0, config.NumHiddenLayers).Select(l => new PruningRecord.LayerRecord
            {
                Layer = l, Pruned = StructuredCounts.IsPruned(l, config.NumHiddenLayers, plan.KeepFirst, plan.KeepLast),
                OriginalHeads = config.HeadsAt(l), OriginalKvHeads = config.KvHeadsAt(l), OriginalIntermediate = config.IntermediateAt(l),
            }).ToArray(),
            MasksFile = MaskFile.FileName,
            MaskedTensors = results.Select(r => r.Name).ToArray(),
        };
        record.ValidateAgainst(config, "the new pruning record");
        record.Save(tmp);
        var errors = results.Select(r => r.RelativeError).Where(e => !double.IsNaN(e)).ToList();
        return new PruneReport("", o.Method.Name(), plan.Ratio, plan.NM, plan.KeepFirst, plan.KeepLast, record.OriginalParameters,
            record.PrunedParameters, (double)record.OriginalParameters / record.PrunedParameters, false, samples.Length, seqLen, null,
            errors.Count > 0 ? errors.Average() : null, 0);
    }
}
