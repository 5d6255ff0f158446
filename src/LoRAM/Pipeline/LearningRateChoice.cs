using System.Globalization;

namespace LoRAM.Pipeline;

/// <summary>Where a row's LoRA learning rate came from (by name in report.json).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<LearningRateSource>))]
public enum LearningRateSource
{
    /// <summary><see cref="PipelineOptions.LearningRate"/>, the same for every row (the paper's 1e-3; <c>--lr</c>).</summary>
    Default,
    /// <summary>The row's entry in <see cref="PipelineOptions.RowLearningRates"/>: what a documented sweep chose.</summary>
    RowDefault,
    /// <summary>Chosen in this run from <see cref="PipelineOptions.SweepLr"/> by validation perplexity (<c>--sweep-lr</c>).</summary>
    Swept,
}

/// <summary>One rate of a learning-rate sweep: the row trained with it (seed <see cref="PipelineOptions.Seed"/>) and its
/// served model's response perplexity on the validation items (+∞ when the training diverged).</summary>
public sealed record LearningRateTrial(double LearningRate, double ValidationPerplexity);

/// <summary>The learning rate a fine-tuned row trained with, and why that one.</summary>
public sealed record LearningRateChoice(double Rate, LearningRateSource Source, string? From = null, IReadOnlyList<LearningRateTrial>? Trials = null)
{
    /// <summary>The rate for a report: "1e-3", "3e-4", "2.5e-4".</summary>
    public static string Format(double lr) => lr.ToString("0.###e0", CultureInfo.InvariantCulture);

    /// <summary>"lr 1e-3 (default)", "lr 3e-4 (swept on validation)", "lr 3e-4 (row default from sweep of DATE)".</summary>
    public string Describe() => $"lr {Format(Rate)} ({Source switch
    {
        LearningRateSource.RowDefault => string.IsNullOrEmpty(From) ? "row default" : "row default from " + From,
        LearningRateSource.Swept => "swept on validation",
        _ => "default",
    }})";

    /// <summary>
    /// The sweep's choice: the rate whose served model has the lowest validation perplexity (the first such in grid
    /// order on a tie). What it is given is all it reads — each rate's validation perplexity — so the choice can depend
    /// on no test item. Every rate diverged: bad input naming <c>--sweep-lr</c>.
    /// </summary>
    public static LearningRateChoice Swept(string row, IReadOnlyList<LearningRateTrial> trials)
    {
        var best = trials.Where(t => double.IsFinite(t.ValidationPerplexity)).MinBy(t => t.ValidationPerplexity)
            ?? throw new UserInputException($"--sweep-lr: every learning rate of the grid ({string.Join(", ", trials.Select(t => Format(t.LearningRate)))}) diverged on row '{row}'; give smaller ones");
        return new(best.LearningRate, LearningRateSource.Swept, Trials: trials);
    }

    /// <summary>The learning rate of row <paramref name="row"/> without a sweep: its row default if the table has one,
    /// else <see cref="PipelineOptions.LearningRate"/>.</summary>
    public static LearningRateChoice For(PipelineOptions o, string row) =>
        o.RowLearningRates.TryGetValue(row, out double lr) ? new(lr, LearningRateSource.RowDefault, o.RowLearningRatesSource)
        : new(o.LearningRate, LearningRateSource.Default);
}
