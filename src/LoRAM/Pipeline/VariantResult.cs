namespace LoRAM.Pipeline;

/// <summary>One row of the report: what was trained, at what cost, and how the served model scores.</summary>
public sealed record VariantResult
{
    public required string Name { get; init; }
    public required string Label { get; init; }
    /// <summary>Parameters of the model LoRA trained on (the base's for rows that train nothing).</summary>
    public required long TrainedModelParameters { get; init; }
    /// <summary>Base parameters / trained-model parameters (the paper's "reduction ratio").</summary>
    public required double ReductionRatio { get; init; }
    /// <summary>Bytes of the frozen weights of the model trained on, in their stored dtype (BF16 or NF4).</summary>
    public required long TrainedModelWeightBytes { get; init; }
    public long? PeakTrainingBytes { get; init; }
    public double? TrainingTokensPerSecond { get; init; }
    public double? TrainingSeconds { get; init; }
    public long? AdapterParameters { get; init; }
    public required double PerplexityInDomain { get; init; }
    public required double PerplexityOutOfDomain { get; init; }
    public required double MultipleChoiceAccuracy { get; init; }
    public required double MultipleChoiceAccuracyNorm { get; init; }
    public required double MathAccuracy { get; init; }
    /// <summary>Held-out knowledge questions (knowledge.jsonl): four-way multiple-choice accuracy of the answer sentences.</summary>
    public double KnowledgeAccuracy { get; init; } = double.NaN;
    /// <summary>The same with per-byte normalised log-likelihoods (lm-evaluation-harness's acc_norm).</summary>
    public double KnowledgeAccuracyNorm { get; init; } = double.NaN;
    /// <summary>Share of held-out knowledge questions whose greedy answer is exactly the true sentence.</summary>
    public double KnowledgeExactMatch { get; init; } = double.NaN;
    /// <summary>Knowledge accuracy by popularity of the notable asked about.</summary>
    public IReadOnlyList<Evaluation.KnowledgeTier> KnowledgeTiers { get; init; } = [];
    /// <summary>(step, held-out perplexity) of the model being trained (for LoRAM rows: the pruned model, before recovery).</summary>
    public IReadOnlyList<CurvePoint> Curve { get; init; } = [];
    /// <summary>Every LoRAM row: in-domain perplexity of the pruned model with its own adapter, i.e. without recovery.</summary>
    public double? PerplexityWithoutRecovery { get; init; }
    /// <summary>Every LoRAM row: knowledge multiple-choice accuracy of the pruned model with its own adapter.</summary>
    public double? KnowledgeAccuracyWithoutRecovery { get; init; }
    /// <summary>Every LoRAM row: out-of-domain perplexity of the pruned model with its own adapter.</summary>
    public double? PerplexityOutOfDomainWithoutRecovery { get; init; }
    /// <summary>Points of the alignment-steps sweep (Fig. 5): the alignment steps (0: unaligned) and the tokens they read.</summary>
    public int? AlignmentSteps { get; init; }
    public long? AlignmentTokens { get; init; }
    /// <summary>Wall-clock seconds the whole row took (prune, align, train, evaluate) when it was computed.</summary>
    public double? RowSeconds { get; init; }
}

/// <summary>A point of a held-out perplexity curve.</summary>
public sealed record CurvePoint(int Step, double Perplexity);
