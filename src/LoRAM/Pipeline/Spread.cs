namespace LoRAM.Pipeline;

/// <summary>
/// A metric over a row's seeds: the mean, the sample standard deviation s = √(Σ(xᵢ − x̄)² / (n − 1)) and the range.
/// With one seed s is 0: nothing was measured about the spread, and the report shows the value alone.
/// </summary>
public sealed record Spread(double Mean, double Std, double Min, double Max, int N)
{
    public static Spread Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("a spread needs at least one value", nameof(values));
        double mean = values.Average();
        double std = values.Count < 2 ? 0 : Math.Sqrt(values.Sum(x => (x - mean) * (x - mean)) / (values.Count - 1));
        return new Spread(mean, std, values.Min(), values.Max(), values.Count);
    }
}

/// <summary>How row A stands against row B on one metric, over their seeds.</summary>
public enum Ordering { Beats, LosesTo, WithinSpread }

public static class RowOrdering
{
    /// <summary>
    /// Whether A beats B "beyond the spread": A's mean is better than B's (lower perplexity, higher accuracy) by more
    /// than the sum of both rows' sample standard deviations over seeds, |x̄_A − x̄_B| &gt; s_A + s_B — the ±1 s bars of the
    /// two rows do not overlap. <see cref="Ordering.LosesTo"/> is the same with the roles swapped, anything else
    /// <see cref="Ordering.WithinSpread"/> (a NaN mean included). It is a deliberately plain rule, not a significance test:
    /// with few seeds it calls a difference only when it is large against the seed-to-seed scatter. A row of one seed
    /// has s = 0, so with one seed every difference counts; the report therefore states orderings only for runs of two
    /// or more seeds.
    /// </summary>
    public static Ordering Compare(Spread a, Spread b, bool lowerIsBetter)
    {
        double better = lowerIsBetter ? b.Mean - a.Mean : a.Mean - b.Mean;   // > 0: A is better
        if (!double.IsFinite(better)) return Ordering.WithinSpread;
        double margin = a.Std + b.Std;
        return better > margin ? Ordering.Beats : -better > margin ? Ordering.LosesTo : Ordering.WithinSpread;
    }

    /// <inheritdoc cref="Compare(Spread, Spread, bool)"/>
    public static Ordering Compare(VariantResult a, VariantResult b, Metric metric) =>
        Compare(a.SpreadOf(metric), b.SpreadOf(metric), metric.LowerIsBetter());

    public static string Words(this Ordering o) => o switch { Ordering.Beats => "beats", Ordering.LosesTo => "loses to", _ => "within spread" };
}
