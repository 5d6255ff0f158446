using System.Runtime.InteropServices;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Lora;
using LoRAM.Pipeline;
using LoRAM.Progress;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Pipeline;

/// <summary>The paper's LLaMA-2 rows put LoRA on the LM head too (Appendix: "… and the head embedding matrix
/// W_lm_head"): the pipeline's default targets, trained on a structurally pruned model, recovered and served.</summary>
public sealed class PipelineTargetsTests : IDisposable
{
    private readonly TempFolder _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_default_targets_are_the_seven_projections_and_the_lm_head()
    {
        var o = new PipelineOptions { Models = "", Out = "" };
        Assert.Equal([.. LoraSettings.AllProjections, "lm_head"], o.Targets);
        Assert.Equal(o.Targets, o.RowLora().TargetModules);
    }

    [Fact]
    public void A_loram_stru_row_with_an_lm_head_adapter_recovers_it_unchanged_and_evaluates_on_the_base()
    {
        var models = _dir.File("models");
        TinyLlama.Write(Path.Combine(models, "base"), new TinyLlamaOptions { Layers = 3, Hidden = 64, Heads = 4, KvHeads = 2, Intermediate = 128, MaxPositions = 256 });
        TinyLlama.Write(Path.Combine(models, "sibling"), new TinyLlamaOptions { Layers = 1, Hidden = 32, Heads = 2, KvHeads = 1, Intermediate = 64, MaxPositions = 256, Seed = 2 });
        var o = new PipelineOptions
        {
            Models = models, Out = _dir.File("run"), Variants = ["loram-stru"], Steps = 2, Batch = 2, MicroBatch = 2, SeqLen = 128, EvalEvery = 2,
            CurveItems = 2, Instructions = 10, CorpusChars = 3_000, EvalItems = 2, MathItems = 0, CalibrationSamples = 2,
        };
        using var cpu = new CpuBackend(2);
        var row = new PipelineRunner(o, cpu, LineProgress.None).Run().Rows.Single();
        Assert.True(row.ReductionRatio > 1.1, $"reduction {row.ReductionRatio}");
        Assert.True(double.IsFinite(row.PerplexityInDomain) && row.PerplexityInDomain >= 1, $"ppl {row.PerplexityInDomain}");
        Assert.True(double.IsFinite(row.PerplexityOutOfDomain) && row.PerplexityOutOfDomain >= 1, $"ppl out {row.PerplexityOutOfDomain}");

        string trained = Directory.GetDirectories(o.Out, "adapter-pruned", SearchOption.AllDirectories).Single();
        string recovered = Directory.GetDirectories(o.Out, "adapter-recovered", SearchOption.AllDirectories).Single();
        Assert.Contains("lm_head", PeftAdapterFormat.ReadConfig(Path.Combine(recovered, PeftAdapterFormat.ConfigFile)).TargetModules);
        using var p = SafetensorsFile.Open(Path.Combine(trained, PeftAdapterFormat.WeightsFile));
        using var r = SafetensorsFile.Open(Path.Combine(recovered, PeftAdapterFormat.WeightsFile));
        foreach (char m in "AB")
        {
            string name = PeftAdapterFormat.TensorName("lm_head", m);
            // Structured pruning removes heads and channels, never hidden dimensions: the head's adapter keeps its shape.
            Assert.Equal(m == 'A' ? [o.Rank, 64] : new[] { 259, o.Rank }, r[name].Shape);
            Assert.Equal(p[name].Shape, r[name].Shape);
            Assert.Equal(p.RawBytes(name).ToArray(), r.RawBytes(name).ToArray());
        }
        // Two steps moved B off its zero start: the head was trained, not only attached.
        Assert.Contains(MemoryMarshal.Cast<byte, float>(p.RawBytes(PeftAdapterFormat.TensorName("lm_head", 'B'))).ToArray(), x => x != 0f);
    }
}
