namespace LoRAM.Pipeline;

/// <summary>A score of a served model in the report's table: which way is better, and how it reads.</summary>
public enum Metric
{
    /// <summary>Response-only perplexity on held-out instructions of the training task families (lower is better).</summary>
    PerplexityInDomain,
    /// <summary>Response-only perplexity on held-out instructions of unseen task families (lower is better).</summary>
    PerplexityOutOfDomain,
    /// <summary>Four-way multiple choice by log-likelihood (higher is better).</summary>
    MultipleChoiceAccuracy,
    /// <summary>The same, length-normalized (acc_norm of lm-evaluation-harness; higher is better).</summary>
    MultipleChoiceAccuracyNorm,
    /// <summary>Strict match of <c>#### n</c> after greedy decoding (higher is better).</summary>
    MathAccuracy,
    /// <summary>Held-out knowledge questions, four-way multiple choice of answer sentences (higher is better).</summary>
    KnowledgeAccuracy,
    /// <summary>Held-out knowledge questions answered exactly by greedy decoding (higher is better).</summary>
    KnowledgeExactMatch,
}

public static class Metrics
{
    public static readonly IReadOnlyList<Metric> All = Enum.GetValues<Metric>();

    public static bool LowerIsBetter(this Metric m) => m is Metric.PerplexityInDomain or Metric.PerplexityOutOfDomain;

    public static string Label(this Metric m) => m switch
    {
        Metric.PerplexityInDomain => "ppl in-domain",
        Metric.PerplexityOutOfDomain => "ppl out-of-domain",
        Metric.MultipleChoiceAccuracy => "MC acc",
        Metric.MultipleChoiceAccuracyNorm => "MC acc (norm)",
        Metric.KnowledgeAccuracy => "knowledge acc",
        Metric.KnowledgeExactMatch => "knowledge exact",
        _ => "math acc",
    };

    /// <summary>The metric's snake_case name, as report.json spells it.</summary>
    public static string JsonName(this Metric m) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(m.ToString());

    public static double Of(this Metric m, SeedScores s) => m switch
    {
        Metric.PerplexityInDomain => s.PerplexityInDomain,
        Metric.PerplexityOutOfDomain => s.PerplexityOutOfDomain,
        Metric.MultipleChoiceAccuracy => s.MultipleChoiceAccuracy,
        Metric.MultipleChoiceAccuracyNorm => s.MultipleChoiceAccuracyNorm,
        Metric.KnowledgeAccuracy => s.KnowledgeAccuracy,
        Metric.KnowledgeExactMatch => s.KnowledgeExactMatch,
        _ => s.MathAccuracy,
    };
}
