using System.Globalization;
using LoRAM.Autograd;
using LoRAM.Data;
using LoRAM.Evaluation;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Lora;
using LoRAM.Progress;
using LoRAM.Quantization;
using LoRAM.Tensors;

namespace LoRAM.Training;

/// <summary>What <c>loram train</c> does: LoRA SFT of a (pruned, aligned, quantized …) model on instruction data.</summary>
public sealed record LoraTrainingOptions
{
    public required string Model { get; init; }
    public required string Data { get; init; }
    public required string Out { get; init; }
    public LoraSettings Lora { get; init; } = new();
    /// <summary>Optimizer steps; 0 = one epoch over the data.</summary>
    public int Steps { get; init; }
    public int Batch { get; init; } = 16;
    public int MicroBatch { get; init; } = 4;
    public int MaxLength { get; init; } = 512;
    public double LearningRate { get; init; } = 1e-3;
    public int? Warmup { get; init; }
    public double MinLrRatio { get; init; } = 0.1;
    public double WeightDecay { get; init; }
    public double Clip { get; init; } = 1.0;
    public int Seed { get; init; } = 1;
    /// <summary>QLoRAM: quantize the frozen projections to NF4 before training.</summary>
    public bool Nf4 { get; init; }
    /// <summary>Held-out instruction JSONL scored (response-only perplexity) every <see cref="EvalEvery"/> steps.</summary>
    public string? Eval { get; init; }
    /// <summary>Prompt format: alpaca, llama2, llama3, chatml, gemma or mistral (<see cref="ChatTemplates"/>); null =
    /// the model folder's chat_template family, else alpaca.</summary>
    public string? Template { get; init; }
    public int EvalEvery { get; init; }
    public int EvalItems { get; init; } = 64;
    public int CheckpointEvery { get; init; }
    public bool Resume { get; init; }
    public bool CheckpointLayers { get; init; }
    public double TimeLimitSeconds { get; init; }
    public int LogEvery { get; init; } = 10;
    /// <summary>Stop (with a checkpoint) after this step, as if interrupted — for resume tests.</summary>
    public int? StopAfterStep { get; init; }

    /// <summary>Checks every setting before any work; throws <see cref="UserInputException"/> naming the flag. The rank
    /// is bounded by the model's projections too, once the config is read (<see cref="LoraTraining.Run"/>).</summary>
    public void Validate()
    {
        static UserInputException Bad(string flag, string rule, object value) =>
            new(string.Create(CultureInfo.InvariantCulture, $"{flag} must be {rule}, got {value}"));
        if (Batch < 1) throw Bad("--batch", "at least 1", Batch);
        if (MicroBatch < 1 || Batch % MicroBatch != 0) throw new UserInputException($"--micro-batch {MicroBatch} must divide --batch {Batch}");
        if (MaxLength < 8) throw Bad("--seq-len", "at least 8", MaxLength);
        if (Steps < 0) throw Bad("--steps", "0 (one epoch) or more", Steps);
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw Bad("--lr", "a positive finite number", LearningRate);
        if (Warmup < 0) throw Bad("--warmup", "0 or more", Warmup);
        if (!(MinLrRatio >= 0 && MinLrRatio <= 1)) throw Bad("--min-lr-ratio", "in [0, 1]", MinLrRatio);
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw Bad("--weight-decay", "0 or a positive finite number", WeightDecay);
        if (!(Clip >= 0) || !double.IsFinite(Clip)) throw Bad("--clip", "0 (none) or a positive finite number", Clip);
        if (!(Lora.Alpha > 0) || !float.IsFinite(Lora.Alpha)) throw Bad("--alpha", "a positive finite number", Lora.Alpha);
        if (!(Lora.Dropout >= 0 && Lora.Dropout < 1)) throw Bad("--lora-dropout", "in [0, 1)", Lora.Dropout);
        if (Lora.Rank < 1) throw Bad("--rank", "at least 1", Lora.Rank);
        try { Lora.Validate(); }
        catch (ArgumentException e) { throw new UserInputException($"--targets: {e.Message}", e); }
        if (EvalEvery < 0) throw Bad("--eval-every", "0 or more", EvalEvery);
        if (EvalItems < 1) throw Bad("--eval-items", "at least 1", EvalItems);
        if (CheckpointEvery < 0) throw Bad("--checkpoint-every", "0 or more", CheckpointEvery);
        if (LogEvery < 0) throw Bad("--log-every", "0 or more", LogEvery);
        if (!(TimeLimitSeconds >= 0) || !double.IsFinite(TimeLimitSeconds) || TimeLimitSeconds > TimeSpan.MaxValue.TotalSeconds / 2)
            throw Bad("--time-limit", "0 (none) or a finite number of seconds", TimeLimitSeconds);
        if (StopAfterStep < 1) throw Bad("stop-after-step", "at least 1", StopAfterStep);
    }
}

/// <summary>What a LoRA training run did (also OUT/report.json).</summary>
public sealed record LoraTrainingReport
{
    public required string Out { get; init; }
    public required string Model { get; init; }
    public bool Completed { get; init; }
    public int Steps { get; init; }
    public int PlannedSteps { get; init; }
    public long TokensSeen { get; init; }
    public double Seconds { get; init; }
    public double TokensPerS { get; init; }
    public double FirstLoss { get; init; }
    public double FinalLoss { get; init; }
    /// <summary>Mean response NLL on the held-out set after the last step (null without one).</summary>
    public double? FinalEvalNll { get; init; }
    public long ModelParameters { get; init; }
    public long AdapterParameters { get; init; }
    /// <summary>Frozen weights of the model trained on, in their stored dtype (BF16, F32 or NF4).</summary>
    public long FrozenWeightBytes { get; init; }
    public bool Nf4 { get; init; }
    public bool Masked { get; init; }
    public required IReadOnlyDictionary<string, long> PeakMemoryBytes { get; init; }
    public long PeakBackendBytes { get; init; }
    public long PeakTotalBytes { get; init; }
    public string? LastCheckpoint { get; init; }
}

/// <summary>
/// LoRA supervised fine-tuning with the shared <see cref="Trainer"/>: the model's frozen weights stay in their stored
/// dtype (or NF4), adapters on the targeted projections are the only parameters, the loss is on response tokens only
/// (<see cref="InstructionBatches"/>). A model pruned non-structurally trains masked LoRA, (B·A) ⊙ M, with the
/// masks of its folder (paper §3.2). The output folder is a PEFT adapter of the model trained on.
/// </summary>
public static class LoraTraining
{
    public const string ReportFile = "report.json";

    public static LoraTrainingReport Run(LoraTrainingOptions o, Backend backend, IProgressReporter progress, Action<StepRecord>? afterStep = null)
    {
        o.Validate();
        if (File.Exists(o.Out)) throw new UserInputException($"{o.Out}: is a file, --out needs a folder");
        var configPath = Path.Combine(o.Model, ModelFolder.Config);
        if (!File.Exists(configPath)) throw new UserInputException($"{o.Model}: not a model folder (no {ModelFolder.Config})");
        var config = LlamaConfig.Load(configPath);
        CheckRank(o.Lora, config);
        if (o.MaxLength > config.MaxPositionEmbeddings)
            throw new UserInputException($"--seq-len {o.MaxLength} exceeds the model's max_position_embeddings {config.MaxPositionEmbeddings}");
        if (!File.Exists(o.Data)) throw new UserInputException($"{o.Data}: no such file");
        if (o.Eval is not null && !File.Exists(o.Eval)) throw new UserInputException($"{o.Eval}: no such file");

        using var outputLock = OutputLock.Inside(o.Out);
        string checkpoints = Path.Combine(o.Out, TrainingCheckpoint.FolderName);
        string? resumeFrom = TrainingCheckpoint.Latest(checkpoints);
        if (o.Resume && resumeFrom is null) throw new UserInputException($"{o.Out}: --resume given but there is no checkpoint in {checkpoints}");
        if (!o.Resume && resumeFrom is not null) throw new UserInputException($"{o.Out}: already holds checkpoints; pass --resume to continue, or choose another folder");
        // Fingerprints first, then the settings against the checkpoint's: a refused resume costs no model load.
        var settings = JobSettings(o);
        if (resumeFrom is not null) TrainingCheckpoint.CheckResumable(resumeFrom, settings);

        var (format, why) = ChatTemplates.Resolve(o.Template, o.Model);
        var conversations = ConversationFiles.Load(o.Data);
        if (format != ChatFormat.Alpaca && o.Eval is not null)
            throw new UserInputException($"--eval scores the Alpaca layout; it is not supported with the {ChatTemplates.Name(format)} template yet");
        var evalRecords = o.Eval is null ? null : LoadInstructions(o.Eval).Take(o.EvalItems).ToList();

        // The peak is this run's: weights, adapter, optimizer state and activations (a pipeline reuses one backend).
        backend.TrimPool();
        backend.ResetPeak();
        using var model = ModelLoader.Load(o.Model, backend, new LlamaModelOptions { CheckpointLayers = o.CheckpointLayers });
        ITokenizer tokenizer;
        try { tokenizer = Tokenizers.Load(o.Model, model.Config); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        var data = format == ChatFormat.Alpaca
            ? new InstructionBatches(conversations.SelectMany(c => ConversationFiles.ToAlpacaRecords(c, o.Data)).ToList(), tokenizer, o.MaxLength, o.Seed)
            : new InstructionBatches(Templated(conversations, format, o, tokenizer), tokenizer.PadId, o.MaxLength, o.Seed);
        progress.Line($"train: template {ChatTemplates.Name(format)} ({why})");

        (long Before, long After)? quantized = o.Nf4 ? ProjectionQuantizer.QuantizeProjections(model) : null;
        var masks = PruningMasks.Load(o.Model, backend);
        using var adapter = LoraAdapter.Attach(model, o.Lora, o.Seed, masks);

        int steps = o.Steps > 0 ? o.Steps : Math.Max(1, data.Examples / o.Batch);
        var options = new TrainerOptions
        {
            Steps = steps, BatchSequences = o.Batch, MicroBatchSequences = o.MicroBatch, LearningRate = o.LearningRate,
            MinLrRatio = o.MinLrRatio, WarmupSteps = o.Warmup ?? Math.Max(steps / 20, steps > 1 ? 1 : 0), WeightDecay = o.WeightDecay,
            ClipNorm = o.Clip, Seed = o.Seed, OutputFolder = o.Out, CheckpointEvery = o.CheckpointEvery,
            EvalEvery = evalRecords is null ? 0 : o.EvalEvery > 0 ? o.EvalEvery : steps, LogEvery = o.LogEvery,
            TimeLimit = o.TimeLimitSeconds > 0 ? TimeSpan.FromSeconds(o.TimeLimitSeconds) : null,
            StopAfterStep = o.StopAfterStep, JobSettings = settings,
        };
        try { options.Validate(); }
        catch (ArgumentException e) { throw new UserInputException(e.Message, e); }

        var ledger = new MemoryLedger();
        model.RegisterMemory(ledger);
        var trainable = new TrainableModel
        {
            Parameters = adapter.Parameters().ToList(),
            Forward = (tape, ids) => model.Forward(tape, ids),
            SetStepSeed = seed => adapter.SetDropoutSeed(unchecked((long)seed)),
            WeightsFile = PeftAdapterFormat.WeightsFile,
            WriteFolderFiles = folder => AtomicFile.WriteAllText(Path.Combine(folder, PeftAdapterFormat.ConfigFile),
                PeftAdapterFormat.ConfigJson(o.Lora, Path.GetFullPath(o.Model))),
        };
        progress.Line(string.Create(CultureInfo.InvariantCulture,
            $"train: LoRA r={o.Lora.Rank} α={o.Lora.Alpha} on {adapter.Layers.Count} projections ({adapter.ParameterCount:N0} parameters{(masks is null ? "" : ", masked")}) " +
            $"of {model.Config.ParameterCount():N0}{(quantized is null ? "" : " (NF4)")} on {backend.Name}; {data.Examples:N0} examples ({data.ResponseTokens:N0} response tokens), " +
            $"{steps} steps × {o.Batch} (micro-batch {o.MicroBatch}), lr {o.LearningRate:G3}"));

        using var trainer = new Trainer(backend, trainable, data, options, ledger, progress);
        if (evalRecords is not null)
            trainer.Evaluate = () => Benchmarks.InstructionPerplexity(model, tokenizer, evalRecords, o.MaxLength, o.MicroBatch).MeanNll;
        trainer.AfterStep = afterStep;
        if (resumeFrom is not null)
        {
            try { trainer.ResumeFrom(resumeFrom); }
            catch (ArgumentException e) { throw new UserInputException($"cannot resume: {e.Message}", e); }
        }
        var summary = trainer.Run();
        if (summary.Completed) adapter.Save(o.Out, Path.GetFullPath(o.Model));

        var report = new LoraTrainingReport
        {
            Out = Path.GetFullPath(o.Out), Model = Path.GetFullPath(o.Model), Completed = summary.Completed, Steps = summary.Steps,
            PlannedSteps = steps, TokensSeen = summary.TokensSeen, Seconds = summary.Seconds, TokensPerS = summary.TokensPerSecond,
            FirstLoss = summary.FirstLoss, FinalLoss = summary.FinalLoss, FinalEvalNll = summary.FinalEvalLoss,
            ModelParameters = model.Config.ParameterCount(), AdapterParameters = adapter.ParameterCount, FrozenWeightBytes = model.WeightBytes(),
            Nf4 = o.Nf4, Masked = masks is not null, PeakMemoryBytes = summary.PeakMemory, PeakBackendBytes = summary.PeakBackendBytes,
            // Everything the run held at its peak, memory-mapped frozen weights included (the backend does not allocate those).
            PeakTotalBytes = summary.PeakBackendBytes + ledger.OutsideBackendBytes, LastCheckpoint = summary.LastCheckpoint,
        };
        AtomicFile.WriteAllText(Path.Combine(o.Out, ReportFile), ReportJson.Serialize(report));
        return report;
    }

    /// <summary>Conversations through a chat template, each with its loss mask on the assistant turns.</summary>
    private static TokenizedExample[] Templated(List<Conversation> conversations, ChatFormat format, LoraTrainingOptions o, ITokenizer tokenizer)
    {
        var (bos, eos, _) = ChatTemplates.ReadTokenizerConfig(o.Model);
        if (eos is null) throw new UserInputException($"{Path.Combine(o.Model, "tokenizer_config.json")}: no eos_token, which the {ChatTemplates.Name(format)} template writes");
        return conversations.Select((c, i) => InstructionTokens.Encode(tokenizer, ChatTemplates.Render(format, c, bos ?? "", eos, $"{o.Data}: record {i + 1}"), o.MaxLength)).ToArray();
    }

    /// <summary>What decides the adapter besides the loop's settings: the model's and the data's content and the LoRA
    /// settings. The held-out set, intervals and the time limit change no trained number and are not recorded.</summary>
    private static List<RunSetting> JobSettings(LoraTrainingOptions o) =>
    [
        new("--model (content)", ContentHash.OfModel(o.Model)),
        new("--data (SHA-256)", ContentHash.OfFile(o.Data)),
        RunSetting.Of("--rank", o.Lora.Rank),
        RunSetting.Of("--alpha", o.Lora.Alpha),
        RunSetting.Of("--lora-dropout", o.Lora.Dropout),
        RunSetting.Of("--rslora", o.Lora.UseRsLora),
        new("--targets", string.Join(',', o.Lora.TargetModules)),
        RunSetting.Of("--nf4", o.Nf4),
        new("--template", o.Template ?? "(from the model)"),
    ];

    /// <summary>A rank above min(in, out) of a targeted projection adds parameters and no expressiveness: refused.</summary>
    private static void CheckRank(LoraSettings lora, LlamaConfig config)
    {
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var module in lora.TargetModules)
            {
                var (outF, inF) = module == "lm_head" ? (config.VocabSize, config.HiddenSize) : Projection.Parse(module).Shape(config, l);
                if (Math.Min(outF, inF) > 0 && lora.Rank > Math.Min(outF, inF))
                    throw new UserInputException($"--rank {lora.Rank} exceeds min(in, out) = {Math.Min(outF, inF)} of {module} in layer {l} ({inF} → {outF})");
            }
    }

    /// <summary>Training or held-out instruction data: a file that exists and holds at least one record.</summary>
    private static List<InstructionRecord> LoadInstructions(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: no such file");
        var records = InstructionFiles.Load(path);
        if (records.Count == 0) throw new UserInputException($"{path}: no instruction records");
        return records;
    }
}
