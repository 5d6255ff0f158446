using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LoRAM.Pipeline;

/// <summary>report.json, report.md and the PNG figures of a pipeline run.</summary>
public static class PipelineReport
{
    public static IReadOnlyList<string> Write(string outDir, PipelineOptions o, IReadOnlyList<VariantResult> rows, IReadOnlyList<VariantResult> sweep, string device, double seconds)
    {
        var files = new List<string>();
        var json = JsonSerializer.Serialize(new
        {
            device, seconds, models = Path.GetFullPath(o.Models), options = o, variants = rows, sweep,
        }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        Llama.AtomicFile.WriteAllText(Path.Combine(outDir, "report.json"), json);
        files.Add("report.json");

        var curve = Path.Combine(outDir, "perplexity-vs-step.png");
        if (Plots.PerplexityVsStep(curve, rows)) files.Add(Path.GetFileName(curve));
        var ratio = Path.Combine(outDir, "perplexity-vs-ratio.png");
        if (sweep.Count > 0 && Plots.PerplexityVsRatio(ratio, sweep)) files.Add(Path.GetFileName(ratio));

        Llama.AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), Markdown(o, rows, sweep, device, seconds, files));
        files.Add("report.md");
        return files;
    }

    public static string Table(IReadOnlyList<VariantResult> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| variant | trained-model params | reduction | trained-model weights | peak training memory | train tok/s | ppl in-domain ↓ | ppl out-of-domain ↓ | MC acc (norm) ↑ | math acc ↑ |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Label} | {r.TrainedModelParameters:N0} | {r.ReductionRatio:F2}× | {Mib(r.TrainedModelWeightBytes)} | {(r.PeakTrainingBytes is long p ? Mib(p) : "–")} | " +
                $"{(r.TrainingTokensPerSecond is double t ? t.ToString("N0", CultureInfo.InvariantCulture) : "–")} | {r.PerplexityInDomain:F3} | {r.PerplexityOutOfDomain:F3} | " +
                $"{r.MultipleChoiceAccuracy:P1} ({r.MultipleChoiceAccuracyNorm:P1}) | {r.MathAccuracy:P1} |"));
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

    private static string Markdown(PipelineOptions o, IReadOnlyList<VariantResult> rows, IReadOnlyList<VariantResult> sweep, string device, double seconds, List<string> files)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# LoRAM pipeline report");
        sb.AppendLine();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Models `{o.Models}`; {o.Steps} LoRA steps × {o.Batch} examples (micro-batch {o.MicroBatch}, ≤ {o.SeqLen} tokens), r = {o.Rank}, lr {o.LearningRate:G3}; " +
            $"LoRAM prunes {o.Ratio:P0} of each pruned layer (first {o.KeepFirst} and last {o.KeepLast} layers kept); device {device}; {RunTime(seconds, rows.Concat(sweep))}."));
        sb.AppendLine();
        sb.AppendLine("Every fine-tuned row is served on the model named in its label: LoRAM rows train on the pruned model and are evaluated as the");
        sb.AppendLine("**base** model plus the **recovered** adapter. Perplexity is response-only on held-out instructions; MC is four-way multiple choice");
        sb.AppendLine($"(log-likelihood, lm-eval-harness style); math is strict match of `#### n` after greedy decoding ({o.MathShots}-shot, {o.MathItems} problems).");
        sb.AppendLine();
        sb.Append(Table(rows));
        if (sweep.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## LoRAM-Stru at several ratios, with and without recovery");
            sb.AppendLine();
            sb.AppendLine("| pruned model | reduction | ppl in-domain, recovered (base + R(adapter)) | ppl in-domain, without recovery (pruned + adapter) |");
            sb.AppendLine("|---:|---:|---:|---:|");
            foreach (var s in sweep)
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {s.Label} | {s.ReductionRatio:F2}× | {s.PerplexityInDomain:F3} | {s.PerplexityWithoutRecovery:F3} |"));
        }
        foreach (var f in files.Where(f => f.EndsWith(".png")))
        {
            sb.AppendLine();
            sb.AppendLine($"![{f}]({f})");
        }
        return sb.ToString();
    }

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F2} MiB");
}

/// <summary>The paper's figures, drawn with ScottPlot.</summary>
internal static class Plots
{
    /// <summary>Fig. 3: held-out perplexity against training step, one line per trained row.</summary>
    public static bool PerplexityVsStep(string path, IReadOnlyList<VariantResult> rows)
    {
        var trained = rows.Where(r => r.Curve.Count > 0).ToList();
        if (trained.Count == 0) return false;
        var plot = new ScottPlot.Plot();
        foreach (var r in trained)
        {
            var line = plot.Add.Scatter(r.Curve.Select(p => (double)p.Step).ToArray(), r.Curve.Select(p => p.Perplexity).ToArray());
            line.LegendText = r.Label;
        }
        var untrained = rows.FirstOrDefault(r => r.Curve.Count == 0);
        if (untrained is not null)
        {
            var h = plot.Add.HorizontalLine(untrained.PerplexityInDomain);
            h.LegendText = untrained.Label;
            h.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        plot.Title("Held-out perplexity during LoRA training (model being trained)");
        plot.XLabel("step");
        plot.YLabel("perplexity (in-domain, response tokens)");
        plot.ShowLegend();
        plot.SavePng(path, 900, 560);
        return true;
    }

    /// <summary>Figs. 6–7: perplexity against parameter reduction ratio for LoRAM-Stru, with and without recovery.</summary>
    public static bool PerplexityVsRatio(string path, IReadOnlyList<VariantResult> sweep)
    {
        var plot = new ScottPlot.Plot();
        double[] x = sweep.Select(s => s.ReductionRatio).ToArray();
        var recovered = plot.Add.Scatter(x, sweep.Select(s => s.PerplexityInDomain).ToArray());
        recovered.LegendText = "recovered: base + R(adapter)";
        var without = plot.Add.Scatter(x, sweep.Select(s => s.PerplexityWithoutRecovery ?? double.NaN).ToArray());
        without.LegendText = "without recovery: pruned + adapter";
        plot.Title("LoRAM-Stru: perplexity vs parameter reduction ratio");
        plot.XLabel("parameter reduction ratio (base / pruned)");
        plot.YLabel("perplexity (in-domain, response tokens)");
        plot.ShowLegend();
        plot.SavePng(path, 900, 560);
        return true;
    }
}
