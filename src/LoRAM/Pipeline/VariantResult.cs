namespace LoRAM.Pipeline;

/// <summary>One row of the report: what was trained, at what cost, and how the served model scores. A fine-tuned row
/// run with several seeds holds each seed's scores in <see cref="Seeds"/>; its scalar scores and costs are then the
/// means over seeds (peak memory the largest), and <see cref="SpreadOf"/> gives each metric's spread.</summary>
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
    /// <summary>Knowledge accuracy by popularity of the notable asked about (the first seed's).</summary>
    public IReadOnlyList<Evaluation.KnowledgeTier> KnowledgeTiers { get; init; } = [];
    /// <summary>(step, held-out perplexity) of the model being trained (for LoRAM rows: the pruned model, before recovery);
    /// with several seeds, the mean over seeds at each step.</summary>
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
    /// <summary>Wall-clock seconds the whole row took (prune, align, train, evaluate) when it was computed; with several
    /// seeds, the sum over them.</summary>
    public double? RowSeconds { get; init; }
    /// <summary>The learning rate the row's LoRA trained with and where it came from (null for rows that train nothing).</summary>
    public LearningRateChoice? LearningRate { get; init; }
    /// <summary>Each seed's scores, in seed order (one entry for a row of one seed or one that trains nothing).</summary>
    public IReadOnlyList<SeedScores> Seeds { get; init; } = [];

    /// <summary>The metric's mean, sample standard deviation and range over <see cref="Seeds"/> (the scalar alone,
    /// N = 1, for a row that has no per-seed scores).</summary>
    public Spread SpreadOf(Metric metric) =>
        Spread.Of(Seeds.Count > 0 ? Seeds.Select(s => metric.Of(s)).ToList() : [metric.Of(SeedScores.Of(this, 0))]);

    /// <summary>Every metric's spread by its snake_case name (written to report.json; derived, never read back).</summary>
    public IReadOnlyDictionary<string, Spread> Spreads => Metrics.All.ToDictionary(m => m.JsonName(), SpreadOf);

    /// <summary>
    /// One row from its seeds' results (each a row of one seed, in seed order): scores, throughput and training time
    /// are means, peak memory the largest, row time the sum, the curve the mean at each step every seed evaluated.
    /// </summary>
    public static VariantResult Aggregate(IReadOnlyList<VariantResult> seeds)
    {
        if (seeds.Count == 0) throw new ArgumentException("a row needs at least one seed", nameof(seeds));
        if (seeds.Count == 1) return seeds[0];
        var first = seeds[0];
        static double? MeanOf(IEnumerable<double?> xs) => xs.All(x => x is not null) ? xs.Average(x => x!.Value) : null;
        var steps = seeds.Select(s => s.Curve.Select(p => p.Step).ToHashSet()).Aggregate((a, b) => { a.IntersectWith(b); return a; });
        return first with
        {
            PerplexityInDomain = seeds.Average(s => s.PerplexityInDomain),
            PerplexityOutOfDomain = seeds.Average(s => s.PerplexityOutOfDomain),
            MultipleChoiceAccuracy = seeds.Average(s => s.MultipleChoiceAccuracy),
            MultipleChoiceAccuracyNorm = seeds.Average(s => s.MultipleChoiceAccuracyNorm),
            MathAccuracy = seeds.Average(s => s.MathAccuracy),
            KnowledgeAccuracy = seeds.Average(s => s.KnowledgeAccuracy),
            KnowledgeAccuracyNorm = seeds.Average(s => s.KnowledgeAccuracyNorm),
            KnowledgeExactMatch = seeds.Average(s => s.KnowledgeExactMatch),
            PerplexityWithoutRecovery = MeanOf(seeds.Select(s => s.PerplexityWithoutRecovery)),
            KnowledgeAccuracyWithoutRecovery = MeanOf(seeds.Select(s => s.KnowledgeAccuracyWithoutRecovery)),
            PerplexityOutOfDomainWithoutRecovery = MeanOf(seeds.Select(s => s.PerplexityOutOfDomainWithoutRecovery)),
            PeakTrainingBytes = seeds.All(s => s.PeakTrainingBytes is not null) ? seeds.Max(s => s.PeakTrainingBytes) : null,
            TrainingTokensPerSecond = MeanOf(seeds.Select(s => s.TrainingTokensPerSecond)),
            TrainingSeconds = MeanOf(seeds.Select(s => s.TrainingSeconds)),
            RowSeconds = MeanOf(seeds.Select(s => s.RowSeconds)) * seeds.Count,
            Curve = first.Curve.Where(p => steps.Contains(p.Step))
                .Select(p => new CurvePoint(p.Step, seeds.Average(s => s.Curve.First(q => q.Step == p.Step).Perplexity))).ToList(),
            Seeds = seeds.SelectMany(s => s.Seeds.Count > 0 ? s.Seeds : [SeedScores.Of(s, 0)]).ToList(),
        };
    }
}

/// <summary>The scores of one seed of a row: the LoRA initialization and data-order seed, and what its served model scored.</summary>
public sealed record SeedScores(int Seed, double PerplexityInDomain, double PerplexityOutOfDomain, double MultipleChoiceAccuracy,
    double MultipleChoiceAccuracyNorm, double MathAccuracy, double? PerplexityWithoutRecovery = null,
    double KnowledgeAccuracy = double.NaN, double KnowledgeExactMatch = double.NaN, double? KnowledgeAccuracyWithoutRecovery = null,
    double? PerplexityOutOfDomainWithoutRecovery = null)
{
    public static SeedScores Of(VariantResult r, int seed) => new(seed, r.PerplexityInDomain, r.PerplexityOutOfDomain, r.MultipleChoiceAccuracy,
        r.MultipleChoiceAccuracyNorm, r.MathAccuracy, r.PerplexityWithoutRecovery, r.KnowledgeAccuracy, r.KnowledgeExactMatch,
        r.KnowledgeAccuracyWithoutRecovery, r.PerplexityOutOfDomainWithoutRecovery);
}

/// <summary>A point of a held-out perplexity curve.</summary>
public sealed record CurvePoint(int Step, double Perplexity);
