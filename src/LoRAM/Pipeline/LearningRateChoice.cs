using System.Globalization;

namespace LoRAM.Pipeline;

/// <summary>Where a row's LoRA learning rate came from.</summary>
public enum LearningRateSource
{
    /// <summary><see cref="PipelineOptions.LearningRate"/>, the same for every row (the paper's 1e-3; <c>--lr</c>).</summary>
    Default,
    /// <summary>The row's entry in <see cref="PipelineOptions.RowLearningRates"/>: what a documented sweep chose.</summary>
    RowDefault,
}

/// <summary>The learning rate a fine-tuned row trained with, and why that one.</summary>
public sealed record LearningRateChoice(double Rate, LearningRateSource Source, string? From = null)
{
    /// <summary>The rate for a report: "1e-3", "3e-4", "2.5e-4".</summary>
    public static string Format(double lr) => lr.ToString("0.###e0", CultureInfo.InvariantCulture);

    /// <summary>"lr 1e-3 (default)", "lr 3e-4 (row default from sweep of DATE)".</summary>
    public string Describe() => $"lr {Format(Rate)} ({Source switch
    {
        LearningRateSource.RowDefault => string.IsNullOrEmpty(From) ? "row default" : "row default from " + From,
        _ => "default",
    }})";

    /// <summary>The learning rate of row <paramref name="row"/> without a sweep: its row default if the table has one,
    /// else <see cref="PipelineOptions.LearningRate"/>.</summary>
    public static LearningRateChoice For(PipelineOptions o, string row) =>
        o.RowLearningRates.TryGetValue(row, out double lr) ? new(lr, LearningRateSource.RowDefault, o.RowLearningRatesSource)
        : new(o.LearningRate, LearningRateSource.Default);
}
