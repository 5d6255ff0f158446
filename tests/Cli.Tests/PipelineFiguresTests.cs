using LoRAM.Cli;
using LoRAM.Pipeline;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary>The figures <c>loram pipeline</c> draws beside its report: Fig. 3 from the rows' curves, Figs. 6–7 from the sweep.</summary>
public sealed class PipelineFiguresTests : IDisposable
{
    private readonly LoRAM.Llama.Tests.Support.TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static VariantResult Row(string name, double ratio, params CurvePoint[] curve) => new()
    {
        Name = name, Label = name, TrainedModelParameters = 100, ReductionRatio = ratio, TrainedModelWeightBytes = 200,
        PerplexityInDomain = 5, PerplexityOutOfDomain = 7, MultipleChoiceAccuracy = 0.3, MultipleChoiceAccuracyNorm = 0.3, MathAccuracy = 0,
        PerplexityWithoutRecovery = 4, Curve = curve,
    };

    [Fact]
    public void Draws_the_step_curve_and_the_ratio_sweep_as_png_files()
    {
        var rows = new[] { Row("base", 1), Row("base-lora", 1, new CurvePoint(1, 9), new CurvePoint(2, 6)) };
        var sweep = new[] { Row("sweep-0.25", 1.2), Row("sweep-0.5", 1.5) };
        var files = PipelineFigures.Draw(_dir.Path, rows, sweep);
        Assert.Equal(["perplexity-vs-step.png", "perplexity-vs-ratio.png"], files);
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
        Assert.Empty(PipelineFigures.Draw(_dir.Path, [Row("base", 1)], []));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }
}
