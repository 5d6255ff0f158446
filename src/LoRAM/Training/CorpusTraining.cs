using System.Globalization;
using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tokenization;
using LoRAM.Progress;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Training;

/// <summary>
/// The settings full-parameter training on a plain-text corpus shares — pre-training (<see cref="Pretraining"/>) and
/// alignment (<see cref="Alignment"/>, Eq. 8) — with the defaults of pre-training; alignment overrides its own.
/// </summary>
public abstract record CorpusTrainingOptions
{
    /// <summary>Pre-training's peak learning rate (models/recipe.sh trains the shipped family with it).</summary>
    public const double PretrainingLearningRate = 2e-3;

    /// <summary>Corpus: plain text, documents separated by blank lines.</summary>
    public required string Data { get; init; }
    /// <summary>Training tokens; steps = ceil(tokens / (batch × seq-len)).</summary>
    public required long Tokens { get; init; }
    /// <summary>Output folder: the trained model (HF layout), loss.csv, report.json, checkpoints/.</summary>
    public required string Out { get; init; }
    public int SeqLen { get; init; } = 256;
    /// <summary>Sequences per optimizer step.</summary>
    public int Batch { get; init; } = 16;
    /// <summary>Sequences per forward/backward pass (gradient accumulation); 0 = the whole batch.</summary>
    public int MicroBatch { get; init; }
    /// <summary>Peak learning rate (AdamW). Pre-training's default, the one the shipped model family was trained with.</summary>
    public double LearningRate { get; init; } = PretrainingLearningRate;
    /// <summary>The cosine decay ends at lr × this.</summary>
    public double MinLrRatio { get; init; } = 0.1;
    /// <summary>Warm-up steps; null = <see cref="WarmupFraction"/> of the steps (at least 1 when there are 2 or more).</summary>
    public int? Warmup { get; init; }
    /// <summary>The warm-up, as a fraction of the steps, when <see cref="Warmup"/> is not given.</summary>
    public double WarmupFraction { get; init; } = 0.05;
    /// <summary>AdamW weight decay on matrices (not on norms).</summary>
    public double WeightDecay { get; init; } = 0.1;
    /// <summary>Global gradient-norm clip (0 = none).</summary>
    public double Clip { get; init; } = 1.0;
    /// <summary>Seed of the initialisation and the data order.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Checkpoint every N steps (0 = only at the end).</summary>
    public int CheckpointEvery { get; init; } = 100;
    public int KeepCheckpoints { get; init; } = 2;
    /// <summary>Held-out loss every N steps (0 = only at the end).</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Windows at the end of the corpus held out for the eval loss (0 = none).</summary>
    public int EvalSequences { get; init; } = 16;
    public int LogEvery { get; init; } = 10;
    /// <summary>Continue from the newest checkpoint in <see cref="Out"/> (same settings as the first run).</summary>
    public bool Resume { get; init; }
    /// <summary>Dtype of the saved weights: F32 or BF16.</summary>
    public DType SaveDType { get; init; } = DType.F32;
    /// <summary>Recompute each layer in the backward pass (less activation memory).</summary>
    public bool CheckpointLayers { get; init; }
    /// <summary>Stop after this many seconds with a checkpoint (continue later with resume); 0 = none.</summary>
    public double TimeLimitSeconds { get; init; }
    /// <summary>Time every op (forward and backward) and add the table to the report.</summary>
    public bool Profile { get; init; }

    /// <summary>Checks every setting before any work; throws <see cref="UserInputException"/> naming the flag.</summary>
    public virtual void Validate()
    {
        static UserInputException Bad(string flag, string rule, object? value) =>
            new(string.Create(CultureInfo.InvariantCulture, $"{flag} must be {rule}, got {value}"));
        if (Tokens < 1) throw Bad("--tokens", "at least 1", Tokens);
        if (SeqLen < 2) throw Bad("--seq-len", "at least 2", SeqLen);
        if (Batch < 1) throw Bad("--batch", "at least 1", Batch);
        if (MicroBatch < 0 || (MicroBatch > 0 && Batch % MicroBatch != 0))
            throw new UserInputException($"--micro-batch {MicroBatch} must divide --batch {Batch} (or be 0 for the whole batch)");
        long perStep = (long)Batch * SeqLen;
        if ((Tokens - 1) / perStep + 1 > int.MaxValue)
            throw new UserInputException($"--tokens {Tokens} is {(Tokens - 1) / perStep + 1} steps of --batch {Batch} × --seq-len {SeqLen}; at most {int.MaxValue} steps are possible");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw Bad("--lr", "a positive finite number", LearningRate);
        if (!(MinLrRatio >= 0 && MinLrRatio <= 1)) throw Bad("--min-lr-ratio", "in [0, 1]", MinLrRatio);
        if (Warmup < 0) throw Bad("--warmup", "0 or more", Warmup);
        if (!(WarmupFraction >= 0 && WarmupFraction < 1)) throw Bad("the warm-up fraction", "in [0, 1)", WarmupFraction);
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw Bad("--weight-decay", "0 or a positive finite number", WeightDecay);
        if (!(Clip >= 0) || !double.IsFinite(Clip)) throw Bad("--clip", "0 (none) or a positive finite number", Clip);
        if (CheckpointEvery < 0) throw Bad("--checkpoint-every", "0 or more", CheckpointEvery);
        if (KeepCheckpoints < 1) throw Bad("--keep-checkpoints", "at least 1", KeepCheckpoints);
        if (EvalEvery < 0) throw Bad("--eval-every", "0 or more", EvalEvery);
        if (EvalSequences < 0) throw Bad("--eval-sequences", "0 or more", EvalSequences);
        if (LogEvery < 0) throw Bad("--log-every", "0 or more", LogEvery);
        if (!(TimeLimitSeconds >= 0) || !double.IsFinite(TimeLimitSeconds) || TimeLimitSeconds > TimeSpan.MaxValue.TotalSeconds / 2)
            throw Bad("--time-limit", "0 (none) or a finite number of seconds", TimeLimitSeconds);
        if (SaveDType is not (DType.F32 or DType.BF16)) throw new UserInputException($"--dtype must be f32 or bf16, got '{SaveDType}'");
    }

    /// <summary>The warm-up steps of a run of <paramref name="steps"/>: <see cref="Warmup"/>, else ⌊steps × <see cref="WarmupFraction"/>⌋,
    /// at least 1 when there are 2 or more steps.</summary>
    public int WarmupSteps(int steps) => Warmup ?? Math.Max((int)Math.Floor(steps * WarmupFraction), steps > 1 ? 1 : 0);
}

/// <summary>What a pre-training or alignment run did (also OUT/report.json).</summary>
public sealed record CorpusTrainingReport
{
    public required string Out { get; init; }
    /// <summary>The config trained from: a path or embedded name (pre-training), the source folder (alignment).</summary>
    public required string Config { get; init; }
    public required long Parameters { get; init; }
    public required string Device { get; init; }
    public int? Threads { get; init; }
    public int Seed { get; init; }
    public int SeqLen { get; init; }
    public int Batch { get; init; }
    public int MicroBatch { get; init; }
    public bool Completed { get; init; }
    public int Steps { get; init; }
    public int PlannedSteps { get; init; }
    public long TokensSeen { get; init; }
    public double Lr { get; init; }
    public int Warmup { get; init; }
    public double Seconds { get; init; }
    public double TokensPerS { get; init; }
    public double? SteadyTokensPerS { get; init; }
    public double CpuSeconds { get; init; }
    public double TokensPerCpuS { get; init; }
    public double FirstLoss { get; init; }
    public double FinalLoss { get; init; }
    public double? FinalEvalLoss { get; init; }
    public required IReadOnlyDictionary<string, long> PeakMemoryBytes { get; init; }
    public long PeakBackendBytes { get; init; }
    public string LossCurve { get; init; } = Training.LossCurve.FileName;
    public string? LastCheckpoint { get; init; }
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, OpTiming>? OpProfile { get; init; }
    /// <summary>Alignment: ‖W − W0^P‖ / ‖W0^P‖ of every trained tensor, by checkpoint name — how far alignment moved each.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, double>? WeightChange { get; init; }
}

/// <summary>Seconds one op spent forward and backward, and how often it ran forward.</summary>
public sealed record OpTiming(double ForwardS, double BackwardS, long Calls);

/// <summary>
/// The loop both corpus jobs share: checks the settings before any long work, tokenizes the corpus (byte tokenizer)
/// into packed windows, trains every weight of the model with <see cref="Trainer"/>, saves the model and report.json.
/// </summary>
internal static class CorpusTraining
{
    public const string ReportFile = "report.json";

    /// <summary>A model to train and what the job adds around the run.</summary>
    internal sealed record Job(string Name, LlamaConfig Config, string ConfigLabel, Func<Backend, LlamaModelOptions, LlamaModel> CreateModel)
    {
        /// <summary>Called once the trainer exists (alignment installs its projection here); returns what to dispose after the run.</summary>
        public Func<LlamaModel, Trainer, IDisposable?>? Prepare { get; init; }
        /// <summary>What decides the result besides the corpus and the loop: the initial model's fingerprint.</summary>
        public IReadOnlyList<RunSetting> Settings { get; init; } = [];
        /// <summary>Files the finished model folder gets besides weights, config and tokenizer.</summary>
        public Action<string>? WriteSideFiles { get; init; }
        /// <summary>The weights to train, by name (null: every weight); the others are loaded frozen in their stored dtype
        /// (<see cref="LlamaModelOptions.TrainedWeights"/>): no F32 copy, no gradient, no optimizer state.</summary>
        public Func<string, bool>? TrainedWeights { get; init; }
        /// <summary>The folder whose tokenizer reads the corpus and travels with the model (alignment: the pruned model's);
        /// null for the byte tokenizer of a model pre-trained from scratch.</summary>
        public string? TokenizerFolder { get; init; }
        /// <summary>The folder the run starts from: when set, the report gives ‖W − W_start‖ / ‖W_start‖ of every trained
        /// tensor, W_start read back from it tensor by tensor at the end (no second copy of the model is held).</summary>
        public string? StartFolder { get; init; }
    }

    public static CorpusTrainingReport Run(CorpusTrainingOptions a, Job job, Backend backend, IProgressReporter progress)
    {
        // ---- check the input before any long work ----
        a.Validate();
        var config = job.Config;
        ITokenizer tokenizer;
        if (job.TokenizerFolder is null)
        {
            tokenizer = new ByteTokenizer();
            if (config.VocabSize < tokenizer.VocabSize)
                throw new UserInputException($"{job.ConfigLabel}: vocab_size {config.VocabSize} is smaller than the byte tokenizer's {tokenizer.VocabSize}");
        }
        else
        {
            try { tokenizer = Tokenizers.Load(job.TokenizerFolder, config); }
            catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        }
        if (a.SeqLen > config.MaxPositionEmbeddings)
            throw new UserInputException($"--seq-len {a.SeqLen} exceeds the config's max_position_embeddings {config.MaxPositionEmbeddings}");
        if (!File.Exists(a.Data)) throw new UserInputException($"{a.Data}: no such corpus file");
        if (File.Exists(a.Out)) throw new UserInputException($"{a.Out}: is a file, --out needs a folder");
        using var outputLock = OutputLock.Inside(a.Out);
        string checkpoints = Path.Combine(a.Out, TrainingCheckpoint.FolderName);
        string? resumeFrom = TrainingCheckpoint.Latest(checkpoints);
        if (a.Resume && resumeFrom is null) throw new UserInputException($"{a.Out}: --resume given but there is no checkpoint in {checkpoints}");
        if (!a.Resume && resumeFrom is not null) throw new UserInputException($"{a.Out}: already holds checkpoints; pass --resume to continue, or choose another folder");
        var settings = job.Settings.Concat(
        [
            new RunSetting("--data (SHA-256)", ContentHash.OfFile(a.Data)),
            RunSetting.Of("--tokens", a.Tokens),
            RunSetting.Of("--eval-sequences", a.EvalSequences),
            new RunSetting("--dtype", a.SaveDType.ToString()),
        ]).ToList();
        if (resumeFrom is not null) TrainingCheckpoint.CheckResumable(resumeFrom, settings);

        var stream = PackedCorpus.Tokenize(Data.PlainTextCorpus.Load(a.Data), tokenizer);
        PackedCorpus corpus;
        try { corpus = new PackedCorpus(stream, a.SeqLen, a.Seed, a.EvalSequences); }
        catch (ArgumentException e) { throw new UserInputException($"{a.Data}: {e.Message}", e); }

        long perStep = (long)a.Batch * a.SeqLen;
        int steps = checked((int)((a.Tokens + perStep - 1) / perStep));
        var options = new TrainerOptions
        {
            Steps = steps, BatchSequences = a.Batch, MicroBatchSequences = a.MicroBatch, LearningRate = a.LearningRate, MinLrRatio = a.MinLrRatio,
            WarmupSteps = a.WarmupSteps(steps), WeightDecay = a.WeightDecay, ClipNorm = a.Clip, Seed = a.Seed,
            OutputFolder = a.Out, CheckpointEvery = a.CheckpointEvery, KeepCheckpoints = a.KeepCheckpoints,
            EvalEvery = a.EvalSequences > 0 ? a.EvalEvery : 0, LogEvery = a.LogEvery,
            TimeLimit = a.TimeLimitSeconds > 0 ? TimeSpan.FromSeconds(a.TimeLimitSeconds) : null, JobSettings = settings,
        };
        try { options.Validate(); }
        catch (ArgumentException e) { throw new UserInputException(e.Message, e); }
        if (options.EvalEvery == 0 && a.EvalSequences > 0) options = options with { EvalEvery = steps };

        using var model = job.CreateModel(backend, new LlamaModelOptions { Trainable = true, TrainedWeights = job.TrainedWeights, CheckpointLayers = a.CheckpointLayers });
        var ledger = new MemoryLedger();
        model.RegisterMemory(ledger);
        var parameters = model.Parameters().ToList();
        var trainable = new TrainableModel
        {
            Parameters = parameters,
            Forward = (tape, ids) => model.Forward(tape, ids),
            WriteFolderFiles = folder => WriteModelFiles(config, folder, job.TokenizerFolder),
        };
        progress.Line(string.Create(CultureInfo.InvariantCulture,
            $"{job.Name}: {config.ParameterCount():N0} parameters ({config.NumHiddenLayers} layers, d {config.HiddenSize}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads} kv) " +
            $"on {backend.Name}; corpus {corpus.StreamTokens:N0} tokens ({corpus.TrainingWindows:N0} windows of {a.SeqLen}, {a.EvalSequences} held out); " +
            $"{steps} steps × {a.Batch} × {a.SeqLen} tokens, micro-batch {options.MicroBatch}, lr {a.LearningRate:G3}, warm-up {options.WarmupSteps}"));
        using var trainer = new Trainer(backend, trainable, corpus, options, ledger, progress) { Name = job.Name };
        var profiler = a.Profile ? new OpProfiler() : null;
        trainer.Profiler = profiler;
        if (a.EvalSequences > 0) trainer.Evaluate = () => HeldOutLoss(model, corpus, options.MicroBatch);
        if (resumeFrom is not null)
        {
            try { trainer.ResumeFrom(resumeFrom); }
            catch (ArgumentException e) { throw new UserInputException($"cannot resume: {e.Message}", e); }
        }
        // CPU time beside wall time: on a shared machine, tokens per CPU-second is the figure that does not
        // depend on what else is running (for one thread it is the uncontended single-core throughput).
        var cpuBefore = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        TrainingSummary summary;
        using (job.Prepare?.Invoke(model, trainer))
            summary = trainer.Run();
        double cpuSeconds = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;

        // A time-boxed run that stopped early leaves its checkpoint, not a final model.
        if (summary.Completed)
        {
            model.Save(a.Out, a.SaveDType);
            WriteModelFiles(config, a.Out, job.TokenizerFolder, configToo: false);
            job.WriteSideFiles?.Invoke(a.Out);
        }
        Dictionary<string, OpTiming>? ops = null;
        if (profiler is not null)
        {
            ops = [];
            progress.Line($"op profile ({profiler.Total.TotalSeconds:F1} s in ops):");
            foreach (var e in profiler.Entries)
            {
                ops[e.Op] = new OpTiming(e.Forward.TotalSeconds, e.Backward.TotalSeconds, e.ForwardCalls);
                progress.Line(string.Create(CultureInfo.InvariantCulture,
                    $"  {e.Op,-24} forward {e.Forward.TotalSeconds,8:F2} s  backward {e.Backward.TotalSeconds,8:F2} s  {100 * e.Total / profiler.Total,5:F1} %"));
            }
        }
        var report = new CorpusTrainingReport
        {
            WeightChange = job.StartFolder is { } from ? WeightChange(from, parameters) : null,
            Out = Path.GetFullPath(a.Out), Config = job.ConfigLabel, Parameters = config.ParameterCount(), Device = backend.Name,
            Threads = backend is CpuBackend cpu ? cpu.Threads : null, Seed = a.Seed, SeqLen = a.SeqLen, Batch = options.BatchSequences,
            MicroBatch = options.MicroBatch, Completed = summary.Completed, Steps = summary.Steps, PlannedSteps = options.Steps,
            TokensSeen = summary.TokensSeen, Lr = options.LearningRate, Warmup = options.WarmupSteps, Seconds = summary.Seconds,
            TokensPerS = summary.TokensPerSecond, SteadyTokensPerS = summary.SteadyTokensPerSecond, CpuSeconds = cpuSeconds,
            TokensPerCpuS = summary.TokensThisRun / Math.Max(cpuSeconds, 1e-9), FirstLoss = summary.FirstLoss, FinalLoss = summary.FinalLoss,
            FinalEvalLoss = summary.FinalEvalLoss, PeakMemoryBytes = summary.PeakMemory, PeakBackendBytes = summary.PeakBackendBytes,
            LastCheckpoint = summary.LastCheckpoint, OpProfile = ops,
        };
        AtomicFile.WriteAllText(Path.Combine(a.Out, ReportFile), ReportJson.Serialize(report));
        return report;
    }

    /// <summary>‖W − W_start‖ / ‖W_start‖ of each trained tensor, W_start read from <paramref name="folder"/>'s mapped
    /// checkpoint one tensor at a time (its pages given back after each), both sides a few thousand elements at a time.</summary>
    private static Dictionary<string, double> WeightChange(string folder, IReadOnlyList<Var> parameters)
    {
        using var cpu = new CpuBackend(1);
        using var start = SafetensorsCheckpoint.Open(folder);
        return parameters.ToDictionary(p => p.Name ?? "?", p =>
        {
            using var before = start.Load(cpu, p.Name!);
            return RelativeChange(before, p.Value);
        });
    }

    /// <summary><see cref="RelativeChange(float[], float[])"/> of two tensors of one shape, read in chunks of 16 K elements (below
    /// the large-object heap): the same sums in the same order, so the same result.</summary>
    internal static double RelativeChange(Tensor before, Tensor after)
    {
        const int Chunk = 16 << 10;
        double diff = 0, norm = 0;
        using var b = before.Reshape(-1);
        using var a = after.Reshape(-1);
        for (long at = 0; at < b.Length; at += Chunk)
        {
            int n = (int)Math.Min(Chunk, b.Length - at);
            float[] x, y;
            using (var v = b.View(at, n)) x = v.ToFloatArray();
            using (var v = a.View(at, n)) y = v.ToFloatArray();
            AccumulateChange(x, y, ref diff, ref norm);
        }
        return Math.Sqrt(diff / Math.Max(norm, double.Epsilon));
    }

    /// <summary>‖after − before‖ / ‖before‖ (Frobenius), in double.</summary>
    internal static double RelativeChange(float[] before, float[] after)
    {
        double diff = 0, norm = 0;
        AccumulateChange(before, after, ref diff, ref norm);
        return Math.Sqrt(diff / Math.Max(norm, double.Epsilon));
    }

    /// <summary>Adds Σ(after − before)² to <paramref name="diff"/> and Σ before² to <paramref name="norm"/>, in order.</summary>
    private static void AccumulateChange(float[] before, float[] after, ref double diff, ref double norm)
    {
        for (int i = 0; i < before.Length; i++)
        {
            double d = (double)after[i] - before[i];
            diff += d * d;
            norm += (double)before[i] * before[i];
        }
    }

    /// <summary>config.json and the tokenizer the corpus was read with — the source folder's files, or the byte
    /// tokenizer's loram_tokenizer.json: with the weights, a loadable model folder.</summary>
    private static void WriteModelFiles(LlamaConfig config, string folder, string? tokenizerFolder, bool configToo = true)
    {
        if (configToo) config.Save(Path.Combine(folder, ModelFolder.Config));
        if (tokenizerFolder is not null) ModelFolder.CopyTokenizerFiles(tokenizerFolder, folder);
        else File.WriteAllText(Path.Combine(folder, ByteTokenizer.FileName), "{\"type\": \"byte\"}\n");
    }

    /// <summary>Mean next-token loss over the held-out windows (all full, so the mean of window means is the token mean).</summary>
    internal static double HeldOutLoss(LlamaModel model, PackedCorpus corpus, int batch)
    {
        double sum = 0;
        long tokens = 0;
        foreach (var b in corpus.HeldOut(batch))
        {
            using var tape = new Tape(model.Backend);
            using var _ = tape.NoGrad();
            using var ids = Tensor.FromArray(model.Backend, b.Inputs, b.Sequences, b.Length);
            using var targets = Tensor.FromArray(model.Backend, b.Targets, b.Sequences, b.Length);
            int n = b.TrainedTokens;
            sum += (double)tape.CrossEntropy(model.Forward(tape, ids), targets).Item() * n;
            tokens += n;
        }
        return sum / tokens;
    }
}
