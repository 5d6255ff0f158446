using System.Globalization;
using LoRAM.Pipeline;
using SkiaSharp;

namespace LoRAM.Cli;

/// <summary>The paper's figures of a pipeline run, drawn with ScottPlot. Each plot is built by a function of its own
/// (what it shows can be checked without pixels) and saved by <see cref="Draw"/>.</summary>
internal static class PipelineFigures
{
    public const string StepFigure = "perplexity-vs-step.png", RatioFigure = "perplexity-vs-ratio.png", AlignmentStepsFigure = "fig5_alignment_steps.png";

    /// <summary>A fine-tuned baseline's served perplexity, drawn as a labelled horizontal line for comparison.</summary>
    internal sealed record ReferenceLevel(string Label, double InDomain, double OutOfDomain);

    /// <summary>sibling + LoRA and base + LoRA, those of them the run has (<see cref="PipelineReport.ReferenceRows"/>).</summary>
    internal static IReadOnlyList<ReferenceLevel> ReferenceLevels(IReadOnlyList<VariantResult> rows) =>
        PipelineReport.ReferenceRows(rows).Select(r => new ReferenceLevel(r.Label, r.PerplexityInDomain, r.PerplexityOutOfDomain)).ToList();

    /// <summary>Draws every figure the rows allow into <paramref name="outDir"/>; returns their file names.</summary>
    public static IReadOnlyList<string> Draw(string outDir, IReadOnlyList<VariantResult> rows, IReadOnlyList<VariantResult> sweep,
        IReadOnlyList<VariantResult> alignSweep)
    {
        var references = ReferenceLevels(rows);
        var files = new List<string>();
        if (PerplexityVsStep(rows, references) is { } step)
        {
            step.SavePng(Path.Combine(outDir, StepFigure), 900, 560);
            files.Add(StepFigure);
        }
        if (sweep.Count > 0)
        {
            PerplexityVsRatio(sweep, references).SavePng(Path.Combine(outDir, RatioFigure), 900, 560);
            files.Add(RatioFigure);
        }
        if (alignSweep.Count > 0)
        {
            var (outOfDomain, inDomain) = PerplexityVsAlignmentSteps(alignSweep, references);
            SideBySide(Path.Combine(outDir, AlignmentStepsFigure), 760, 560, outOfDomain, inDomain);
            files.Add(AlignmentStepsFigure);
        }
        return files;
    }

    /// <summary>Fig. 3: held-out perplexity against training step, one line per trained row; the fine-tuned baselines'
    /// served levels as reference lines. Null when no row has a curve.</summary>
    internal static ScottPlot.Plot? PerplexityVsStep(IReadOnlyList<VariantResult> rows, IReadOnlyList<ReferenceLevel> references)
    {
        var trained = rows.Where(r => r.Curve.Count > 0).ToList();
        if (trained.Count == 0) return null;
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
        AddReferences(plot, references, inDomain: true);
        plot.Title("Held-out perplexity during LoRA training (model being trained)");
        plot.XLabel("step");
        plot.YLabel("perplexity (in-domain, response tokens)");
        plot.ShowLegend();
        return plot;
    }

    /// <summary>Figs. 6–7: perplexity against parameter reduction ratio for LoRAM-Stru, with and without recovery; the
    /// fine-tuned baselines as reference lines.</summary>
    internal static ScottPlot.Plot PerplexityVsRatio(IReadOnlyList<VariantResult> sweep, IReadOnlyList<ReferenceLevel> references)
    {
        var plot = new ScottPlot.Plot();
        double[] x = sweep.Select(s => s.ReductionRatio).ToArray();
        var recovered = plot.Add.Scatter(x, sweep.Select(s => s.PerplexityInDomain).ToArray());
        recovered.LegendText = "recovered: base + R(adapter)";
        var without = plot.Add.Scatter(x, sweep.Select(s => s.PerplexityWithoutRecovery ?? double.NaN).ToArray());
        without.LegendText = "without recovery: pruned + adapter";
        AddReferences(plot, references, inDomain: true);
        plot.Title("LoRAM-Stru: perplexity vs parameter reduction ratio");
        plot.XLabel("parameter reduction ratio (base / pruned)");
        plot.YLabel("perplexity (in-domain, response tokens)");
        plot.ShowLegend();
        return plot;
    }

    /// <summary>Fig. 5 (a, b): out-of-domain and in-domain perplexity against the alignment steps of the pruned model
    /// (0: unaligned), with and without recovery; the fine-tuned baselines as reference lines in each panel.</summary>
    internal static (ScottPlot.Plot OutOfDomain, ScottPlot.Plot InDomain) PerplexityVsAlignmentSteps(IReadOnlyList<VariantResult> points,
        IReadOnlyList<ReferenceLevel> references)
    {
        double[] x = points.Select(p => (double)(p.AlignmentSteps ?? 0)).ToArray();
        long perStep = points.Where(p => p.AlignmentSteps > 0).Select(p => p.AlignmentTokens!.Value / p.AlignmentSteps!.Value).FirstOrDefault();
        string xLabel = perStep > 0 ? string.Create(CultureInfo.InvariantCulture, $"alignment steps ({perStep:N0} tokens each)") : "alignment steps";
        string model = string.Create(CultureInfo.InvariantCulture, $"LoRAM-Stru ({points[0].ReductionRatio:F2}× reduction)");
        ScottPlot.Plot Panel(string title, bool inDomain)
        {
            var plot = new ScottPlot.Plot();
            var recovered = plot.Add.Scatter(x, points.Select(p => inDomain ? p.PerplexityInDomain : p.PerplexityOutOfDomain).ToArray());
            recovered.LegendText = "recovered: base + R(adapter)";
            var without = plot.Add.Scatter(x, points.Select(p => (inDomain ? p.PerplexityWithoutRecovery : p.PerplexityOutOfDomainWithoutRecovery) ?? double.NaN).ToArray());
            without.LegendText = "without recovery: pruned + adapter";
            AddReferences(plot, references, inDomain);
            plot.Title(title);
            plot.XLabel(xLabel);
            plot.YLabel($"perplexity ({(inDomain ? "in-domain" : "out-of-domain")}, response tokens)");
            plot.ShowLegend();
            return plot;
        }
        return (Panel($"(a) {model}, out-of-domain", inDomain: false), Panel($"(b) {model}, in-domain", inDomain: true));
    }

    /// <summary>Each baseline's level as a dashed horizontal line, labelled with the row.</summary>
    private static void AddReferences(ScottPlot.Plot plot, IReadOnlyList<ReferenceLevel> references, bool inDomain)
    {
        foreach (var r in references)
        {
            var h = plot.Add.HorizontalLine(inDomain ? r.InDomain : r.OutOfDomain);
            h.LegendText = $"{r.Label} (reference)";
            h.LinePattern = ScottPlot.LinePattern.Dotted;
        }
    }

    /// <summary>Panels of <paramref name="width"/> × <paramref name="height"/> pixels side by side in one PNG.</summary>
    private static void SideBySide(string path, int width, int height, params ScottPlot.Plot[] panels)
    {
        static SKSurface Surface(int w, int h) => SKSurface.Create(new SKImageInfo(w, h)) ?? throw new InvalidOperationException("cannot create a drawing surface");
        using var surface = Surface(width * panels.Length, height);
        for (int i = 0; i < panels.Length; i++)
        {
            // Each panel on a surface of its own: a plot clears the whole canvas it renders on.
            using var panel = Surface(width, height);
            panels[i].Render(panel);
            using var drawn = panel.Snapshot();
            surface.Canvas.DrawImage(drawn, i * width, 0);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        Llama.AtomicFile.Write(path, stream => png.SaveTo(stream));
    }
}
