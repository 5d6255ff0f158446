using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LoRAM.Pipeline;

/// <summary>Draws a run's figures into <c>outDir</c> and returns their file names: from the rows, the ratio sweep and the
/// alignment-steps sweep. The library draws none itself (it has no plotting dependency); the command line passes one that
/// draws the paper's figures with ScottPlot.</summary>
public delegate IReadOnlyList<string> DrawFigures(string outDir, IReadOnlyList<VariantResult> rows, IReadOnlyList<VariantResult> sweep,
    IReadOnlyList<VariantResult> alignSweep);

/// <summary>report.json, report.md and the figures of a pipeline run.</summary>
public static class PipelineReport
{
    public static IReadOnlyList<string> Write(string outDir, PipelineOptions o, IReadOnlyList<VariantResult> rows, IReadOnlyList<VariantResult> sweep,
        string device, double seconds, DrawFigures? figures = null, IReadOnlyList<VariantResult>? alignSweep = null)
    {
        alignSweep ??= [];
        var files = new List<string>();
        var json = JsonSerializer.Serialize(new
        {
            device, seconds, models = Path.GetFullPath(o.Models), options = o, variants = rows, sweep, align_sweep = alignSweep,
        }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        Llama.AtomicFile.WriteAllText(Path.Combine(outDir, "report.json"), json);
        files.Add("report.json");

        if (figures is not null) files.AddRange(figures(outDir, rows, sweep, alignSweep));

        Llama.AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), Markdown(o, rows, sweep, alignSweep, device, seconds, files));
        files.Add("report.md");
        return files;
    }

    /// <summary>The comparison table. A score of a row run with several seeds reads "mean ± sample std" over its seeds.</summary>
    public static string Table(IReadOnlyList<VariantResult> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| variant | trained-model params | reduction | trained-model weights | peak training memory | train tok/s | ppl in-domain ↓ | ppl out-of-domain ↓ | knowledge acc (exact) ↑ | MC acc (norm) ↑ | math acc ↑ |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Label} | {r.TrainedModelParameters:N0} | {r.ReductionRatio:F2}× | {Mib(r.TrainedModelWeightBytes)} | {(r.PeakTrainingBytes is long p ? Mib(p) : "–")} | " +
                $"{(r.TrainingTokensPerSecond is double t ? t.ToString("N0", CultureInfo.InvariantCulture) : "–")} | {Score(r, Metric.PerplexityInDomain)} | {Score(r, Metric.PerplexityOutOfDomain)} | " +
                $"{Score(r, Metric.KnowledgeAccuracy)} ({Score(r, Metric.KnowledgeExactMatch)}) | " +
                $"{Score(r, Metric.MultipleChoiceAccuracy)} ({Score(r, Metric.MultipleChoiceAccuracyNorm)}) | {Score(r, Metric.MathAccuracy)} |"));
        return sb.ToString();
    }

    /// <summary>One score of a row: the value, or "mean ± std" when the row has several seeds.</summary>
    private static string Score(VariantResult r, Metric m)
    {
        string format = m.LowerIsBetter() ? "F3" : "P1";
        var s = r.SpreadOf(m);
        return s.N > 1
            ? s.Mean.ToString(format, CultureInfo.InvariantCulture) + " ± " + s.Std.ToString(format, CultureInfo.InvariantCulture)
            : s.Mean.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <summary>Each fine-tuned row's learning rate and where it came from; for a swept row, every rate's validation
    /// perplexity, the chosen one in bold. <paramref name="prefix"/> tells rows apart that share a label (the ratio sweep's).</summary>
    public static string LearningRates(IReadOnlyList<VariantResult> rows, string prefix = "")
    {
        var sb = new StringBuilder();
        foreach (var r in rows.Where(r => r.LearningRate is not null))
        {
            var lr = r.LearningRate!;
            string trials = lr.Trials is null ? "" : "; validation perplexity " + string.Join(", ", lr.Trials.Select(t =>
            {
                string cell = $"{LearningRateChoice.Format(t.LearningRate)}: {(double.IsFinite(t.ValidationPerplexity) ? t.ValidationPerplexity.ToString("F3", CultureInfo.InvariantCulture) : "diverged")}";
                return t.LearningRate == lr.Rate ? $"**{cell}**" : cell;
            }));
            sb.AppendLine($"- {prefix}{r.Label}: {lr.Describe()}{trials}");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Each LoRAM row against sibling + LoRA and base + LoRA on every metric: "beats", "loses to" or "within spread" by
    /// <see cref="RowOrdering.Compare(VariantResult, VariantResult, Metric)"/>. Empty when the run has no such pair; with
    /// one seed per row, a line saying that orderings need two or more (one seed measures no spread).
    /// </summary>
    public static string Orderings(IReadOnlyList<VariantResult> rows, int seeds)
    {
        var references = rows.Where(r => r.Name is "sibling-lora" or "base-lora").ToList();
        var loram = rows.Where(r => r.Name.Contains("loram", StringComparison.Ordinal)).ToList();
        if (references.Count == 0 || loram.Count == 0) return "";
        var sb = new StringBuilder();
        if (seeds < 2)
        {
            sb.AppendLine("Orderings beyond the seed-to-seed spread need `--seeds 2` or more: this run trained each row with one seed, which measures no spread.");
            return sb.ToString();
        }
        sb.AppendLine($"Over {seeds} seeds, a row *beats* another on a metric when its mean is better by more than the sum of the two rows' sample");
        sb.AppendLine("standard deviations (their ±1 std bars do not overlap), *loses to* it in the reverse case, and is *within spread* otherwise.");
        sb.AppendLine();
        sb.AppendLine($"| row | against | {string.Join(" | ", Metrics.All.Select(m => m.Label()))} |");
        sb.AppendLine($"|---|---|{string.Concat(Metrics.All.Select(_ => "---|"))}");
        foreach (var a in loram)
            foreach (var b in references)
                sb.AppendLine($"| {a.Label} | {b.Label} | {string.Join(" | ", Metrics.All.Select(m => RowOrdering.Compare(a, b, m).Words()))} |");
        return sb.ToString();
    }

    /// <summary>This invocation's wall time, and the rows' own times when some were reused from an earlier run.</summary>
    private static string RunTime(double seconds, IEnumerable<VariantResult> results)
    {
        double rowSeconds = results.Sum(r => r.RowSeconds ?? 0);
        return rowSeconds > seconds + 1
            ? string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:F1} min for this invocation, {rowSeconds / 60:F1} min of row work in all (rows reused from earlier runs)")
            : string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:F1} min");
    }

    private static string Markdown(PipelineOptions o, IReadOnlyList<VariantResult> rows, IReadOnlyList<VariantResult> sweep, IReadOnlyList<VariantResult> alignSweep,
        string device, double seconds, List<string> files)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# LoRAM pipeline report");
        sb.AppendLine();
        string seeds = o.Seeds > 1 ? $"each fine-tuned row trained with {o.Seeds} seeds ({o.Seed}–{o.Seed + o.Seeds - 1}), scores as mean ± sample std over them; " : "";
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Models `{o.Models}`; {o.Steps} LoRA steps × {o.Batch} examples (micro-batch {o.MicroBatch}, ≤ {o.SeqLen} tokens), r = {o.Rank} on {string.Join(", ", o.Targets)}; {seeds}" +
            $"LoRAM prunes {o.Ratio:P0} of each pruned layer (first {o.KeepFirst} and last {o.KeepLast} layers kept); device {device}; {RunTime(seconds, rows.Concat(sweep).Concat(alignSweep))}."));
        sb.AppendLine();
        sb.AppendLine("Every fine-tuned row is served on the model named in its label: LoRAM rows train on the pruned model and are evaluated as the");
        sb.AppendLine("**base** model plus the **recovered** adapter. Perplexity is response-only on held-out instructions; MC is four-way multiple choice");
        sb.AppendLine($"(log-likelihood, lm-eval-harness style); math is strict match of `#### n` after greedy decoding ({o.MathShots}-shot, {o.MathItems} problems).");
        sb.AppendLine();
        sb.Append(Table(rows));
        string rates = LearningRates(rows) + LearningRates(sweep, "ratio sweep, ");
        if (rates.Length > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Learning rates");
            sb.AppendLine();
            sb.Append(rates);
        }
        string orderings = Orderings(rows, o.Seeds);
        if (orderings.Length > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Ordering");
            sb.AppendLine();
            sb.Append(orderings);
        }
        if (sweep.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## LoRAM-Stru at several ratios, with and without recovery");
            sb.AppendLine();
            sb.AppendLine("| pruned model | reduction | ppl in-domain, recovered (base + R(adapter)) | ppl in-domain, without recovery (pruned + adapter) |");
            sb.AppendLine("|---:|---:|---:|---:|");
            foreach (var s in sweep)
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {s.Label} | {s.ReductionRatio:F2}× | {Score(s, Metric.PerplexityInDomain)} | {WithoutRecovery(s)} |"));
        }
        if (alignSweep.Count > 0) sb.Append(AlignmentStepsTable(rows, alignSweep));
        foreach (var f in files.Where(f => f.EndsWith(".png")))
        {
            sb.AppendLine();
            sb.AppendLine($"![{f}]({f})");
        }
        return sb.ToString();
    }

    /// <summary>The fine-tuned baselines every LoRAM figure is compared with — sibling + LoRA, then base + LoRA — those of
    /// them the run has.</summary>
    public static IReadOnlyList<VariantResult> ReferenceRows(IReadOnlyList<VariantResult> rows) =>
        new[] { "sibling-lora", "base-lora" }.SelectMany(name => rows.Where(r => r.Name == name)).ToList();

    /// <summary>The paper's Fig. 5 as a table: each alignment step count's perplexities with and without recovery, and
    /// the fine-tuned baselines of this run as the levels to compare with.</summary>
    public static string AlignmentStepsTable(IReadOnlyList<VariantResult> rows, IReadOnlyList<VariantResult> alignSweep)
    {
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("## LoRAM-Stru by alignment steps (Fig. 5)");
        sb.AppendLine();
        sb.AppendLine("Each point aligns the pruned base on general text it was not pre-trained on for that many steps (0: unaligned), then trains LoRA on it.");
        sb.AppendLine();
        sb.AppendLine("| alignment steps | alignment tokens | ppl in-domain, recovered | ppl out-of-domain, recovered | ppl in-domain, without recovery | ppl out-of-domain, without recovery |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|");
        static string F(double? x) => x is double v ? v.ToString("F3", CultureInfo.InvariantCulture) : "–";
        foreach (var p in alignSweep)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {p.AlignmentSteps} | {p.AlignmentTokens:N0} | {p.PerplexityInDomain:F3} | {p.PerplexityOutOfDomain:F3} | {F(p.PerplexityWithoutRecovery)} | {F(p.PerplexityOutOfDomainWithoutRecovery)} |"));
        var references = ReferenceRows(rows);
        if (references.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine(string.Join("; ", references.Select(r => string.Create(CultureInfo.InvariantCulture,
                $"{r.Label}: {r.PerplexityInDomain:F3} in-domain, {r.PerplexityOutOfDomain:F3} out-of-domain"))) + " (this run's rows, the figure's reference lines).");
        }
        return sb.ToString();
    }

    /// <summary>In-domain perplexity without recovery, "mean ± std" over several seeds.</summary>
    private static string WithoutRecovery(VariantResult r)
    {
        var values = r.Seeds.Select(s => s.PerplexityWithoutRecovery).ToList();
        if (values.Count < 2 || values.Any(v => v is null)) return r.PerplexityWithoutRecovery is double w ? w.ToString("F3", CultureInfo.InvariantCulture) : "–";
        var s = Spread.Of(values.Select(v => v!.Value).ToList());
        return string.Create(CultureInfo.InvariantCulture, $"{s.Mean:F3} ± {s.Std:F3}");
    }

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F2} MiB");
}
