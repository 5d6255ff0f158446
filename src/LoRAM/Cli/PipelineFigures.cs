using LoRAM.Pipeline;

namespace LoRAM.Cli;

/// <summary>The paper's figures of a pipeline run, drawn with ScottPlot.</summary>
internal static class PipelineFigures
{
    /// <summary>Draws every figure the rows allow into <paramref name="outDir"/>; returns their file names.</summary>
    public static IReadOnlyList<string> Draw(string outDir, IReadOnlyList<VariantResult> rows, IReadOnlyList<VariantResult> sweep)
    {
        var files = new List<string>();
        if (PerplexityVsStep(Path.Combine(outDir, "perplexity-vs-step.png"), rows)) files.Add("perplexity-vs-step.png");
        if (sweep.Count > 0 && PerplexityVsRatio(Path.Combine(outDir, "perplexity-vs-ratio.png"), sweep)) files.Add("perplexity-vs-ratio.png");
        return files;
    }

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
