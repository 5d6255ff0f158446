using LoRAM.Llama;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Autograd;
using LoRAM.Autograd.Optim;
using LoRAM.Llama.Safetensors;
using LoRAM.Progress;
using LoRAM.Tensors;

namespace LoRAM.Training;

/// <summary>
/// The shared training loop (pre-training and alignment now; LoRA SFT trains another parameter set through the
/// same loop). One optimizer step:
///   lr_t = schedule(t)                                   linear warm-up, cosine decay to lr·min_ratio
///   for each micro-batch i of the step:   L_i = CE(model(x_i), y_i)  (mean over its N_i trained tokens)
///       backward with weight N_i / Σ_j N_j     ⇒ Σ_i grads = ∇ of the token-mean loss over the whole batch
///   ‖g‖ = global norm; clip to ClipNorm;  AdamW(lr_t) (decay on matrices only);  zero gradients
/// A non-finite loss or gradient norm stops the run before the update (<see cref="TrainingDivergedException"/>).
/// Checkpoints hold the parameters, the AdamW moments, the step, the data position and the loss curve, so a
/// resumed run repeats an uninterrupted one bit for bit on a deterministic backend.
/// </summary>
public sealed class Trainer : IDisposable
{
    private const string Format = "loram-trainer-checkpoint/2";

    private readonly Backend _backend;
    private readonly TrainableModel _model;
    private readonly IBatchSource _data;
    private readonly TrainerOptions _options;
    private readonly IProgressReporter _progress;
    private readonly List<(string Group, AdamW Optimizer)> _optimizers = new();
    private readonly LrSchedule _schedule;
    private readonly List<StepRecord> _curve = new();
    private readonly Stopwatch _clock = new();
    private double _priorSeconds;

    public Trainer(Backend backend, TrainableModel model, IBatchSource data, TrainerOptions options, MemoryLedger? ledger = null, IProgressReporter? progress = null)
    {
        options.Validate();
        if (model.Parameters.Count == 0) throw new ArgumentException("nothing to train: the model has no trainable parameters");
        _backend = backend;
        _model = model;
        _data = data;
        _options = options;
        _progress = progress ?? LineProgress.None;
        if (ledger is null)
        {
            ledger = new MemoryLedger();
            ledger.AddParameters(model.Parameters);
        }
        Ledger = ledger;

        // Two AdamW groups: decoupled weight decay on matrices, none on RMSNorm gains (rank 1).
        var decay = model.Parameters.Where(p => p.Value.Rank >= 2).ToList();
        var noDecay = model.Parameters.Where(p => p.Value.Rank < 2).ToList();
        float b1 = (float)options.Beta1, b2 = (float)options.Beta2, eps = (float)options.Epsilon;
        if (decay.Count > 0) _optimizers.Add(("decay", new AdamW(decay, b1, b2, eps, (float)options.WeightDecay)));
        if (noDecay.Count > 0) _optimizers.Add(("no_decay", new AdamW(noDecay, b1, b2, eps, 0f)));
        foreach (var (_, o) in _optimizers) ledger.AddOptimizer(o);

        _schedule = LrSchedule.Cosine(options.LearningRate, options.WarmupSteps, options.Steps, options.LearningRate * options.MinLrRatio);
    }

    /// <summary>Device memory by category, sampled at each backward pass and after each update.</summary>
    public MemoryLedger Ledger { get; }

    /// <summary>Held-out loss, run every <see cref="TrainerOptions.EvalEvery"/> steps (and after the last step).</summary>
    public Func<double>? Evaluate { get; set; }

    /// <summary>Per-op timings of the forward and backward passes, when set.</summary>
    public OpProfiler? Profiler { get; set; }

    /// <summary>What the progress bar calls this run: "train", "pretrain", "align".</summary>
    public string Name { get; init; } = "train";

    /// <summary>Called after every step is recorded (and checkpointed, when due).</summary>
    public Action<StepRecord>? AfterStep { get; set; }

    /// <summary>Test hook: called inside a checkpoint's temporary folder after the weights are written, before the
    /// optimizer state and trainer state (to simulate a failure in the middle of a save).</summary>
    internal Action<string>? CheckpointFault { get; set; }

    /// <summary>Optimizer steps completed.</summary>
    public int Step { get; private set; }
    /// <summary>Input tokens processed so far.</summary>
    public long TokensSeen { get; private set; }
    public IReadOnlyList<StepRecord> Curve => _curve;
    public string? LastCheckpoint { get; private set; }
    public string CheckpointsFolder => Path.Combine(_options.OutputFolder, TrainingCheckpoint.FolderName);

    // ==== the loop ================================================================================

    /// <summary>Trains from the current step to <see cref="TrainerOptions.Steps"/> (or <see cref="TrainerOptions.StopAfterStep"/>).</summary>
    public TrainingSummary Run()
    {
        Directory.CreateDirectory(_options.OutputFolder);
        string curvePath = Path.Combine(_options.OutputFolder, LossCurve.FileName);
        AtomicFile.WriteAllText(curvePath, LossCurve.Format(_curve));   // a resumed run drops rows after its checkpoint
        using var curve = new StreamWriter(new FileStream(curvePath, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        int firstStep = Step;
        long firstTokens = TokensSeen;
        var wall = Stopwatch.StartNew();
        using var progress = _progress.Start(Name, _options.Steps);
        progress.Update(Step);
        _clock.Start();
        try
        {
            while (Step < _options.Steps)
            {
                var stepClock = Stopwatch.StartNew();
                float lr = _schedule.Rate(Step);
                var micro = new List<TokenBatch>(_options.MicroBatchesPerStep);
                for (int i = 0; i < _options.MicroBatchesPerStep; i++) micro.Add(_data.Next(_options.MicroBatch));

                double loss = AccumulateGradients(micro, Step + 1);
                double norm = GradClip.ClipGlobalNorm(_model.Parameters, _options.ClipNorm > 0 ? _options.ClipNorm : double.PositiveInfinity);
                if (!double.IsFinite(norm))
                {
                    ZeroGrad();
                    throw new TrainingDivergedException(Step + 1, $"the gradient norm is {norm}", LastCheckpoint);
                }
                foreach (var (_, o) in _optimizers) o.Step(lr);
                ZeroGrad();
                Ledger.Sample(_backend);

                Step++;
                long stepTokens = micro.Sum(b => (long)b.Sequences * b.Length);
                TokensSeen += stepTokens;
                double? eval = null;
                if (Evaluate is not null && _options.EvalEvery > 0 && (Step % _options.EvalEvery == 0 || Step == _options.Steps))
                    eval = Evaluate();
                _backend.Synchronize();
                double seconds = stepClock.Elapsed.TotalSeconds;
                var record = new StepRecord(Step, TokensSeen, loss, lr, norm, eval, stepTokens / seconds, seconds);
                _curve.Add(record);
                curve.WriteLine(LossCurve.Row(record));
                bool logDue = _options.LogEvery > 0 && (Step == firstStep + 1 || Step % _options.LogEvery == 0 || Step == _options.Steps || eval is not null);
                progress.Update(Step, Figures(record), logDue ? LogLine(record) : null);

                bool last = Step == _options.Steps;
                if (last || (_options.CheckpointEvery > 0 && Step % _options.CheckpointEvery == 0)) SaveCheckpoint();
                AfterStep?.Invoke(record);
                if (_options.StopAfterStep is int stop && Step >= stop) break;
                if (_options.TimeLimit is { } limit && wall.Elapsed >= limit && Step < _options.Steps)
                {
                    if (LastCheckpoint is null || !LastCheckpoint.EndsWith(TrainingCheckpoint.NameOf(Step), StringComparison.Ordinal)) SaveCheckpoint();
                    _progress.Line($"time limit reached after step {Step} of {_options.Steps}; checkpoint {LastCheckpoint}");
                    break;
                }
            }
        }
        catch (TrainingDivergedException e)
        {
            throw RetireDivergedCheckpoint(e);
        }
        finally
        {
            _clock.Stop();
        }
        double total = wall.Elapsed.TotalSeconds;
        // Steady-state throughput leaves out the first step of this process (JIT compilation, pool warm-up).
        var steady = _curve.Where(r => r.Step > firstStep + 1).ToList();
        return new TrainingSummary(
            Completed: Step == _options.Steps, Steps: Step, TokensSeen: TokensSeen, TokensThisRun: TokensSeen - firstTokens, Seconds: total,
            TokensPerSecond: (TokensSeen - firstTokens) / Math.Max(total, 1e-9),
            SteadyTokensPerSecond: steady.Count > 0 ? steady.Sum(r => r.TokensPerSecond * r.Seconds) / steady.Sum(r => r.Seconds) : null,
            FirstLoss: _curve.Count > 0 ? _curve[0].Loss : double.NaN,
            FinalLoss: _curve.Count > 0 ? _curve[^1].Loss : double.NaN,
            FinalEvalLoss: _curve.LastOrDefault(r => r.EvalLoss is not null)?.EvalLoss,
            PeakMemory: Ledger.PeakByCategory(),
            PeakBackendBytes: _backend.Memory.PeakLiveBytes,
            LastCheckpoint: LastCheckpoint);
    }

    /// <summary>
    /// Forward and backward passes over one step's micro-batches, leaving the summed gradients in the parameters.
    /// Micro-batch i's mean loss is back-propagated with weight N_i / ΣN (its share of the trained tokens), so the
    /// result is the gradient of the token-mean loss over the step, however the batch is split. Returns that loss.
    /// </summary>
    internal double AccumulateGradients(IReadOnlyList<TokenBatch> microBatches, int step)
    {
        ZeroGrad();
        long total = microBatches.Sum(b => (long)b.TrainedTokens);
        double loss = 0;
        for (int i = 0; i < microBatches.Count; i++)
        {
            var batch = microBatches[i];
            int trained = batch.TrainedTokens;
            if (trained == 0) continue;   // nothing to learn from (e.g. an SFT batch of prompts only)
            using var ids = Tensor.FromArray(_backend, batch.Inputs, batch.Sequences, batch.Length);
            using var targets = Tensor.FromArray(_backend, batch.Targets, batch.Sequences, batch.Length);
            _model.SetStepSeed?.Invoke(CounterRng.Bits((ulong)(uint)_options.Seed * 0x9E3779B97F4A7C15UL, ((long)step << 20) | (uint)i));
            using var tape = new Tape(_backend, Profiler) { Ledger = Ledger };
            var l = tape.CrossEntropy(_model.Forward(tape, ids), targets);
            double value = l.Item();
            if (!double.IsFinite(value))
            {
                tape.ReleaseGraph();
                ZeroGrad();
                throw new TrainingDivergedException(step, $"the loss is {value} (micro-batch {i + 1} of {microBatches.Count})", LastCheckpoint);
            }
            double weight = (double)trained / total;
            using var seed = Tensor.FromArray(_backend, [(float)weight], 1);
            tape.Backward(l, seed);
            loss += weight * value;
        }
        return loss;
    }

    private void ZeroGrad()
    {
        foreach (var p in _model.Parameters) p.ZeroGrad();
    }

    /// <summary>The step's log line (the format logs and docs grep for: "step 20/1465  loss …  tok/s …").</summary>
    private string LogLine(StepRecord r)
    {
        static string Mb(long bytes) => (bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture);
        var inv = CultureInfo.InvariantCulture;
        string eval = r.EvalLoss is { } e ? $"  eval {e.ToString("F4", inv)}" : "";
        return string.Create(inv,
            $"step {r.Step}/{_options.Steps}  loss {r.Loss:F4}{eval}  lr {r.LearningRate:E2}  |g| {r.GradNorm:F3}  {r.TokensPerSecond:N0} tok/s  " +
            $"mem MB: params {Mb(Ledger.Live(MemoryCategory.TrainableParams))} grads(peak) {Mb(Ledger.Peak(MemoryCategory.Gradients))} " +
            $"adam {Mb(Ledger.Live(MemoryCategory.OptimizerState))} act(peak) {Mb(Ledger.Peak(MemoryCategory.Activations))} " +
            $"total(peak) {Mb(_backend.Memory.PeakLiveBytes)}");
    }

    /// <summary>The step's figures beside a progress bar: the latest loss (and held-out loss) and throughput.</summary>
    private static string Figures(StepRecord r)
    {
        var inv = CultureInfo.InvariantCulture;
        string eval = r.EvalLoss is { } e ? $"  eval {e.ToString("F4", inv)}" : "";
        return string.Create(inv, $"loss {r.Loss:F4}{eval}  {r.TokensPerSecond:N0} tok/s");
    }

    // ==== checkpoints =============================================================================

    /// <summary>
    /// A divergence at step N was computed from the weights after step N−1: a checkpoint of step N−1 holds them, and a
    /// resume from it (even with a lower lr) diverges at once. It is moved aside to <c>diverged-step-N−1</c> (kept for
    /// inspection, ignored by resume) and the exception names the newest checkpoint before it.
    /// </summary>
    private TrainingDivergedException RetireDivergedCheckpoint(TrainingDivergedException e)
    {
        string bad = Path.Combine(CheckpointsFolder, TrainingCheckpoint.NameOf(e.Step - 1));
        if (!Directory.Exists(bad)) return e;
        string aside = Path.Combine(CheckpointsFolder, "diverged-" + TrainingCheckpoint.NameOf(e.Step - 1));
        if (Directory.Exists(aside)) Directory.Delete(aside, recursive: true);
        Directory.Move(bad, aside);
        LastCheckpoint = TrainingCheckpoint.Latest(CheckpointsFolder);
        return new TrainingDivergedException(e.Step, e.What, LastCheckpoint);
    }

    /// <summary>Writes a checkpoint of the current step (atomically) and keeps the newest few.</summary>
    public string SaveCheckpoint()
    {
        var exported = new List<Tensor>();
        try
        {
            LastCheckpoint = TrainingCheckpoint.Write(CheckpointsFolder, Step, tmp =>
            {
                var weights = new SafetensorsWriter();
                weights.Metadata["format"] = "pt";
                foreach (var p in _model.Parameters) weights.Add(p.Name!, p.Value);
                weights.Save(Path.Combine(tmp, _model.WeightsFile));
                _model.WriteFolderFiles?.Invoke(tmp);
                CheckpointFault?.Invoke(tmp);

                var optimizer = new SafetensorsWriter();
                foreach (var (group, o) in _optimizers)
                    foreach (var (name, t) in o.ExportState())
                    {
                        exported.Add(t);
                        optimizer.Add(group + "/" + name, t);
                    }
                optimizer.Save(Path.Combine(tmp, TrainingCheckpoint.OptimizerFile));
                AtomicFile.WriteAllText(Path.Combine(tmp, LossCurve.FileName), LossCurve.Format(_curve));
                AtomicFile.WriteAllText(Path.Combine(tmp, TrainingCheckpoint.StateFile), State().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            });
        }
        finally
        {
            foreach (var t in exported) t.Dispose();
        }
        TrainingCheckpoint.Prune(CheckpointsFolder, _options.KeepCheckpoints);
        return LastCheckpoint;
    }

    private JsonObject State() => new()
    {
        ["format"] = Format,
        ["step"] = Step,
        ["tokens_seen"] = TokensSeen,
        ["seconds"] = _priorSeconds + _clock.Elapsed.TotalSeconds,
        ["settings"] = RunSetting.ToJson(Settings()),
        ["micro_batch"] = _options.MicroBatch,
        ["data"] = _data.SaveState(),
        ["parameters"] = new JsonArray(_model.Parameters.Select(p => (JsonNode)p.Name!).ToArray()),
    };

    /// <summary>Every setting that decides the result: the job's (<see cref="TrainerOptions.JobSettings"/>: model and
    /// data fingerprints, LoRA settings …) first, then the loop's. The peak lr may go down and the warm-up up on resume
    /// (the moves a divergence asks for); intervals, logging and the time limit are not recorded (they change no number).</summary>
    private IEnumerable<RunSetting> Settings() => _options.JobSettings.Concat(
    [
        RunSetting.Of("--steps", _options.Steps),
        RunSetting.Of("--batch", _options.BatchSequences),
        RunSetting.Of("--micro-batch", _options.MicroBatch),
        RunSetting.Of("--seq-len", _data.SequenceLength),
        RunSetting.Of("--lr", _options.LearningRate, ResumeRule.LowerAllowed),
        RunSetting.Of("--warmup", _options.WarmupSteps, ResumeRule.HigherAllowed),
        RunSetting.Of("--min-lr-ratio", _options.MinLrRatio),
        RunSetting.Of("--weight-decay", _options.WeightDecay),
        RunSetting.Of("--clip", _options.ClipNorm),
        RunSetting.Of("--seed", _options.Seed),
        RunSetting.Of("beta1", _options.Beta1),
        RunSetting.Of("beta2", _options.Beta2),
        RunSetting.Of("eps", _options.Epsilon),
        new RunSetting("schedule", "cosine"),
    ]);

    /// <summary>
    /// Restores parameters, optimizer state, step, data position and loss curve from a checkpoint folder. Every setting
    /// of <see cref="Settings"/> must match the checkpoint's (else <see cref="ArgumentException"/> naming the first
    /// difference), and every field of the checkpoint is checked by type and range (else one naming the file and field).
    /// </summary>
    public void ResumeFrom(string folder)
    {
        var statePath = Path.Combine(folder, TrainingCheckpoint.StateFile);
        var state = CheckpointFields.ReadObject(statePath);
        try
        {
            if (state["format"] is not JsonValue f || f.GetValueKind() != JsonValueKind.String || (string?)f != Format)
                throw new ArgumentException($"format is {state["format"]?.ToJsonString() ?? "missing"}, not \"{Format}\" (a checkpoint of another version cannot be resumed)");
            RunSetting.CheckResumable(Settings(), CheckpointFields.Object(state, "settings"), statePath);
            int step = CheckpointFields.Int(state, "step", 1, _options.Steps);
            long tokens = CheckpointFields.Long(state, "tokens_seen", 0, long.MaxValue);
            double seconds = CheckpointFields.Double(state, "seconds", 0, double.MaxValue);
            _data.LoadState(CheckpointFields.Object(state, "data"));
            Step = step;
            TokensSeen = tokens;
            _priorSeconds = seconds;
        }
        catch (ArgumentException e) when (!e.Message.StartsWith(statePath, StringComparison.Ordinal) && !e.Message.Contains(" in the checkpoint ", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{statePath}: {e.Message}", e);
        }

        var curvePath = Path.Combine(folder, LossCurve.FileName);
        try { _curve.Clear(); _curve.AddRange(LossCurve.Read(curvePath)); }
        catch (FormatException e) { throw new ArgumentException(e.Message, e); }
        catch (FileNotFoundException) { throw new ArgumentException($"{curvePath}: missing from the checkpoint"); }
        if (_curve.Count != Step) throw new ArgumentException($"{curvePath}: {_curve.Count} rows for step {Step}");
        for (int i = 0; i < _curve.Count; i++)
            if (_curve[i].Step != i + 1) throw new ArgumentException($"{curvePath}: row {i + 1} is step {_curve[i].Step}, expected {i + 1}");

        LoadTensors(folder);
        LastCheckpoint = folder;
        _progress.Line($"resumed from {folder} at step {Step} ({TokensSeen:N0} tokens seen)");
    }

    /// <summary>Parameters and AdamW moments from the checkpoint's two safetensors files, names and shapes checked.</summary>
    private void LoadTensors(string folder)
    {
        try
        {
            using (var weights = SafetensorsFile.Open(Path.Combine(folder, _model.WeightsFile)))
                foreach (var p in _model.Parameters)
                {
                    if (!weights.Contains(p.Name!)) throw new ArgumentException($"{weights.Path}: no tensor '{p.Name}'");
                    using var t = weights.Load(_backend, p.Name!, DType.F32);
                    if (!t.ShapeArray().SequenceEqual(p.Value.ShapeArray()))
                        throw new ArgumentException($"{weights.Path}: tensor '{p.Name}' has shape [{string.Join(", ", t.ShapeArray())}], the model [{string.Join(", ", p.Value.ShapeArray())}]");
                    _backend.Copy(t, p.Value);
                }

            using (var opt = SafetensorsFile.Open(Path.Combine(folder, TrainingCheckpoint.OptimizerFile)))
                foreach (var (group, o) in _optimizers)
                {
                    var slots = new Dictionary<string, Tensor>();
                    try
                    {
                        foreach (var e in opt.Entries.Where(e => e.Name.StartsWith(group + "/", StringComparison.Ordinal)))
                            slots[e.Name[(group.Length + 1)..]] = opt.Load(_backend, e.Name);
                        if (!slots.ContainsKey("step")) throw new ArgumentException($"{opt.Path}: no state for optimizer group '{group}'");
                        o.ImportState(slots);
                    }
                    finally
                    {
                        foreach (var t in slots.Values) t.Dispose();
                    }
                }
        }
        catch (LlamaFormatException e) { throw new ArgumentException(e.Message, e); }
    }

    public void Dispose()
    {
        foreach (var (_, o) in _optimizers) o.Dispose();
    }
}

/// <summary>What a training run measured, for reports.</summary>
public sealed record TrainingSummary(bool Completed, int Steps, long TokensSeen, long TokensThisRun, double Seconds, double TokensPerSecond,
    double? SteadyTokensPerSecond, double FirstLoss, double FinalLoss, double? FinalEvalLoss,
    IReadOnlyDictionary<string, long> PeakMemory, long PeakBackendBytes, string? LastCheckpoint);
