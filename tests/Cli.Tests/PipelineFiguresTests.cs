using LoRAM.Cli;
using LoRAM.Pipeline;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary>The figures <c>loram pipeline</c> draws beside its report: Fig. 3 from the rows' curves, Figs. 6–7 from the
/// ratio sweep, Fig. 5 from the alignment-steps sweep; each with the fine-tuned baselines as reference lines.</summary>
public sealed class PipelineFiguresTests : IDisposable
{
    private readonly LoRAM.Llama.Tests.Support.TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static VariantResult Row(string name, double ratio, params CurvePoint[] curve) => new()
    {
        Name = name, Label = name, TrainedModelParameters = 100, ReductionRatio = ratio, TrainedModelWeightBytes = 200,
        PerplexityInDomain = 5, PerplexityOutOfDomain = 7, MultipleChoiceAccuracy = 0.3, MultipleChoiceAccuracyNorm = 0.3, MathAccuracy = 0,
        PerplexityWithoutRecovery = 4, PerplexityOutOfDomainWithoutRecovery = 6, Curve = curve,
    };

    private static VariantResult Point(int steps) => Row($"align-steps-{steps}", 1.5) with { AlignmentSteps = steps, AlignmentTokens = steps * 2048L };

    /// <summary>The two fine-tuned baselines, with in- and out-of-domain levels no other row has.</summary>
    private static readonly VariantResult[] Baselines =
    [
        Row("sibling-lora", 3.9, new CurvePoint(1, 9)) with { Label = "sibling + LoRA", PerplexityInDomain = 3.75, PerplexityOutOfDomain = 8.39 },
        Row("base-lora", 1, new CurvePoint(1, 8)) with { Label = "base + LoRA", PerplexityInDomain = 3.59, PerplexityOutOfDomain = 7.36 },
    ];

    /// <summary>(label, y) of every labelled horizontal line of a plot.</summary>
    private static List<(string Label, double Y)> Lines(ScottPlot.Plot plot) =>
        plot.GetPlottables().OfType<ScottPlot.Plottables.HorizontalLine>().Select(h => (h.LegendText, h.Y)).ToList();

    [Fact]
    public void Draws_the_step_curve_the_ratio_sweep_and_the_alignment_steps_as_png_files()
    {
        var rows = new[] { Row("base", 1), Row("base-lora", 1, new CurvePoint(1, 9), new CurvePoint(2, 6)) };
        var sweep = new[] { Row("sweep-0.25", 1.2), Row("sweep-0.5", 1.5) };
        var files = PipelineFigures.Draw(_dir.Path, [.. rows, .. Baselines], sweep, [Point(0), Point(20), Point(40)]);
        Assert.Equal(["perplexity-vs-step.png", "perplexity-vs-ratio.png", "fig5_alignment_steps.png"], files);
        foreach (var f in files)
        {
            var bytes = File.ReadAllBytes(Path.Combine(_dir.Path, f));
            Assert.True(bytes.Length > 1000, $"{f}: {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
    }

    [Fact]
    public void Rows_without_curves_and_no_sweep_draw_nothing()
    {
        Assert.Empty(PipelineFigures.Draw(_dir.Path, [Row("base", 1)], [], []));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Every_figure_draws_sibling_and_base_lora_as_labelled_reference_lines_at_their_levels()
    {
        VariantResult[] rows = [Row("base", 1), Row("loram-stru", 1.5, new CurvePoint(1, 9)), .. Baselines];
        var references = PipelineFigures.ReferenceLevels(rows);
        Assert.Equal([new("sibling + LoRA", 3.75, 8.39), new PipelineFigures.ReferenceLevel("base + LoRA", 3.59, 7.36)], references);
        (string, double)[] inDomain = [("sibling + LoRA (reference)", 3.75), ("base + LoRA (reference)", 3.59)];
        (string, double)[] outOfDomain = [("sibling + LoRA (reference)", 8.39), ("base + LoRA (reference)", 7.36)];

        var step = PipelineFigures.PerplexityVsStep(rows, references)!;                      // Fig. 3 (also the base w/o FT line)
        Assert.Equal([("base", 5), .. inDomain], Lines(step));
        Assert.Equal(inDomain, Lines(PipelineFigures.PerplexityVsRatio([Row("sweep-0.5", 1.5)], references)));   // Figs. 6–7
        var (a, b) = PipelineFigures.PerplexityVsAlignmentSteps([Point(0), Point(20)], references);            // Fig. 5
        Assert.Equal(outOfDomain, Lines(a));
        Assert.Equal(inDomain, Lines(b));

        // Without those rows there is nothing to refer to, and no line is drawn.
        Assert.Empty(PipelineFigures.ReferenceLevels([Row("base", 1), Row("loram-stru", 1.5)]));
        Assert.Empty(Lines(PipelineFigures.PerplexityVsRatio([Row("sweep-0.5", 1.5)], [])));
    }
}
