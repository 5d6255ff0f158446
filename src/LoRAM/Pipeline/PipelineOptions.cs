namespace LoRAM.Pipeline;

/// <summary>Everything <c>loram pipeline</c> can be told; the defaults fit two CPU cores in about a quarter of an hour.</summary>
public sealed record PipelineOptions
{
    /// <summary>Folder holding <c>base/</c> and <c>sibling/</c> (default: the repository's shipped <c>models/</c>).</summary>
    public required string Models { get; init; }
    public required string Out { get; init; }
    public IReadOnlyList<string> Variants { get; init; } = Variant.Defaults;
    /// <summary>Also sweep LoRAM-Stru over <see cref="SweepRatios"/>, with and without recovery (the paper's Figs. 6–7).</summary>
    public bool Sweep { get; init; }
    public IReadOnlyList<double> SweepRatios { get; init; } = [0.25, 0.5, 0.75];
    /// <summary>The paper's Fig. 5: LoRAM-Stru at <see cref="Ratio"/> aligned for each of these step counts (0: unaligned),
    /// each point a full alignment run of that many steps with the default recipe; empty: none.</summary>
    public IReadOnlyList<int> AlignStepsSweep { get; init; } = [];
    /// <summary>Pruning ratio of the LoRAM rows (fraction of heads/channels removed in each pruned layer; unstructured
    /// sparsity). The paper prunes LLaMA-2-13B to 6.0 B (2.17× fewer parameters), below its 7B sibling; on the shipped
    /// family 0.75 of the four middle layers (first and last kept whole) prunes the base from 4.49 M to 2.31 M
    /// parameters (1.94×), below the sibling's 2.46 M. The paper's 0.65 would keep 2.72 M here: with 6 layers, the two
    /// kept whole are a third of the model where the 13B's six are 15 %.</summary>
    public double Ratio { get; init; } = 0.75;
    public int KeepFirst { get; init; } = 1;
    public int KeepLast { get; init; } = 1;
    public int Steps { get; init; } = 60;
    public int Batch { get; init; } = 16;
    public int MicroBatch { get; init; } = 4;
    public int SeqLen { get; init; } = 384;
    /// <summary>LoRA learning rate of every fine-tuned row that has no entry in <see cref="RowLearningRates"/> (the paper's
    /// default, Appendix: "we default to a learning rate of 1e-3").</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Row name → LoRA learning rate, overriding <see cref="LearningRate"/> for that row: where the rates a
    /// documented sweep chose become defaults (the paper too tunes each baseline's rate, Appendix). Empty until such a
    /// sweep of the shipped models is written up; <c>--lr</c> on the command line replaces the table.</summary>
    public IReadOnlyDictionary<string, double> RowLearningRates { get; init; } = new Dictionary<string, double>();
    /// <summary>Where <see cref="RowLearningRates"/> come from, as the report names it ("sweep of DATE, FILE").</summary>
    public string RowLearningRatesSource { get; init; } = "";
    /// <summary>Learning rates to sweep for each fine-tuned row (<c>--sweep-lr</c>); empty: no sweep. Each rate trains the
    /// row with seed <see cref="Seed"/>; the one whose served model has the lowest response perplexity on the validation
    /// items (<see cref="ValidationSplit"/>) is the row's rate for all its seeds, and the trial at that rate is its first seed.</summary>
    public IReadOnlyList<double> SweepLr { get; init; } = [];
    /// <summary>The grid <c>--sweep-lr</c> sweeps when given no rates: half-decades around the paper's 1e-3.</summary>
    public static readonly IReadOnlyList<double> DefaultLrGrid = [1e-4, 3e-4, 1e-3, 3e-3];
    /// <summary>Instructions generated beyond <see cref="Instructions"/> as the validation split: trained on by no row,
    /// scored only by the learning-rate sweep.</summary>
    public int ValidationItems { get; init; } = 100;
    /// <summary>Fine-tuning runs per trained row: seeds <see cref="Seed"/> … Seed + Seeds − 1 for the LoRA initialization
    /// and the data order. The data, pruning, calibration and alignment keep <see cref="Seed"/>.</summary>
    public int Seeds { get; init; } = 1;
    public int Rank { get; init; } = new Lora.LoraSettings().Rank;
    /// <summary>PEFT modules every fine-tuned row puts LoRA on. Default: the paper's LLaMA-2 setting (Appendix, "Architecture &amp;
    /// Hyperparameters"): the seven projections and the head embedding matrix <c>lm_head</c>. Recovery leaves the head's
    /// adapter as trained: no pruning here removes hidden dimensions, so lm_head keeps its shape [vocab, hidden].</summary>
    public IReadOnlyList<string> Targets { get; init; } = [.. Lora.LoraSettings.AllProjections, "lm_head"];
    public int EvalEvery { get; init; } = 10;
    /// <summary>Held-out items scored during training (the Fig. 3 curve).</summary>
    public int CurveItems { get; init; } = 24;
    public long AlignTokens { get; init; } = 131_072;
    /// <summary>Training instructions of every fine-tuned row (the validation split is generated beyond them).</summary>
    public int Instructions { get; init; } = 2_000;
    public long CorpusChars { get; init; } = 400_000;
    /// <summary>The pipeline's corpus (pruning calibration and alignment text) starts after the documents of the data
    /// stream's first N characters. Default: the characters the shipped family was pre-trained on (models/recipe.sh, seed
    /// 1 as <see cref="Seed"/>), so that alignment reads general text the base has not seen, as the paper's does. 0: from
    /// the start of the stream — the base's own pre-training text (the pipeline before this option).</summary>
    public long CorpusSkipChars { get; init; } = Defaults.DefaultModels.PretrainingCorpusChars;
    public int EvalItems { get; init; } = 100;
    public int MathItems { get; init; } = 40;
    /// <summary>Held-out knowledge questions scored per row (multiple choice and exact match).</summary>
    public int KnowledgeItems { get; init; } = 200;
    public int MathShots { get; init; } = 1;
    public int MathMaxNewTokens { get; init; } = 96;
    public int CalibrationSamples { get; init; } = 16;
    public int Seed { get; init; } = 1;

    private static bool IsRate(double lr) => lr > 0 && double.IsFinite(lr);

    /// <summary>The LoRA settings of every fine-tuned row: rank r, α = 2r, <see cref="Targets"/>.</summary>
    public Lora.LoraSettings RowLora() => new() { Rank = Rank, Alpha = 2f * Rank, TargetModules = Targets };

    /// <summary>Checks every setting before any work; throws <see cref="UserInputException"/> naming the flag.</summary>
    public void Validate()
    {
        if (!(Ratio > 0 && Ratio < 1)) throw new UserInputException($"--ratio must be in (0, 1), got {Ratio}");
        if (Steps < 1) throw new UserInputException($"--steps must be 1 or more, got {Steps}");
        if (Seeds < 1) throw new UserInputException($"--seeds must be 1 or more, got {Seeds}");
        if (Seed > int.MaxValue - Seeds + 1) throw new UserInputException($"--seeds {Seeds} from seed {Seed} passes the largest seed {int.MaxValue}");
        if (!IsRate(LearningRate)) throw new UserInputException($"--lr must be a positive finite number, got {LearningRate}");
        foreach (var lr in SweepLr)
            if (!IsRate(lr)) throw new UserInputException($"--sweep-lr: learning rates must be positive finite numbers, got {lr}");
        if (SweepLr.Distinct().Count() != SweepLr.Count) throw new UserInputException($"--sweep-lr lists a rate twice: {string.Join(",", SweepLr)}");
        if (ValidationItems < 1) throw new UserInputException($"--validation-items must be 1 or more, got {ValidationItems}");
        foreach (var (row, lr) in RowLearningRates)
            if (!IsRate(lr)) throw new UserInputException($"the row learning rate of '{row}' must be a positive finite number, got {lr}");
        if (EvalItems < 1) throw new UserInputException($"--eval-items must be 1 or more, got {EvalItems}");
        if (MathItems < 0) throw new UserInputException($"--math-items must be 0 or more, got {MathItems}");
        if (KnowledgeItems < 0) throw new UserInputException($"--knowledge-items must be 0 or more, got {KnowledgeItems}");
        if (Variants.Count == 0) throw new UserInputException("--variants must name at least one row");
        foreach (var r in SweepRatios)
            if (!(r > 0 && r < 1)) throw new UserInputException($"--sweep-ratios: ratios must be in (0, 1), got {r}");
        if (SweepRatios.Distinct().Count() != SweepRatios.Count) throw new UserInputException($"--sweep-ratios names a ratio twice: {string.Join(",", SweepRatios)}");
        if (CorpusSkipChars < 0) throw new UserInputException($"--corpus-skip-chars must be 0 or more, got {CorpusSkipChars}");
        foreach (var s in AlignStepsSweep)
            if (s < 0) throw new UserInputException($"--align-steps must be 0 or more, got {s}");
        if (AlignStepsSweep.Distinct().Count() != AlignStepsSweep.Count) throw new UserInputException($"--align-steps names a step count twice: {string.Join(",", AlignStepsSweep)}");
        if (Batch < 1 || MicroBatch < 1 || Batch % MicroBatch != 0) throw new UserInputException($"micro-batch {MicroBatch} must divide batch {Batch}");
        if (SeqLen < 8 || Rank < 1 || EvalEvery < 0 || CurveItems < 1 || AlignTokens < 0 || Instructions < 1 || CorpusChars < 0
            || MathShots < 0 || MathMaxNewTokens < 1 || CalibrationSamples < 1 || KeepFirst < 0 || KeepLast < 0)
            throw new UserInputException("pipeline settings out of range (seq-len ≥ 8, rank ≥ 1, counts ≥ 1, intervals ≥ 0)");
        try { RowLora().Validate(); }
        catch (ArgumentException e) { throw new UserInputException($"--targets: {e.Message}", e); }
    }
}
