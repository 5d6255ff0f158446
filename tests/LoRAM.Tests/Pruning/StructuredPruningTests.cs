using LoRAM.Llama.Tests.Support;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Planning;
using LoRAM.Pruning;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;
using static LoRAM.Tests.Pruning.ModelFixtures;

namespace LoRAM.Tests.Pruning;

/// <summary>
/// LoRAM-Rand and LoRAM-Stru as specifications: the counted units are kept, the smaller model computes exactly what
/// the original computes with the removed units' weights zeroed (which proves the slicing and the coupled
/// grouping), ratio 0 changes nothing, and the planner's count is the folder's count.
/// </summary>
public class StructuredPruningTests
{
    private static PruneOptions Options(string model, string output, PruningMethod method, double ratio) => new()
    {
        Model = model, Out = output, Method = method, Ratio = ratio, KeepFirst = 1, KeepLast = 1, Samples = 4, SeqLen = 24, Seed = 5,
    };

    /// <summary>The original weights with every unit the record removed zeroed where it enters the residual stream:
    /// o_proj columns of removed heads, gate and up rows and the down column of removed channels.</summary>
    internal static Dictionary<string, (float[] Data, int[] Shape)> ZeroRemovedUnits(Dictionary<string, (float[] Data, int[] Shape)> w,
        LlamaConfig config, PruningRecord record)
    {
        int d = config.HeadDim, h = config.HiddenSize;
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            var keptHeads = record.Layers[l].KeptHeads!.ToHashSet();
            var keptChannels = record.Layers[l].KeptChannels!.ToHashSet();
            var o = w[LlamaTensorNames.O(l)].Data;
            int qWidth = config.NumAttentionHeads * d;
            for (int head = 0; head < config.NumAttentionHeads; head++)
                if (!keptHeads.Contains(head))
                    for (int r = 0; r < h; r++)
                        for (int t = 0; t < d; t++) o[r * qWidth + head * d + t] = 0;
            int ff = config.IntermediateSize;
            var gate = w[LlamaTensorNames.Gate(l)].Data;
            var up = w[LlamaTensorNames.Up(l)].Data;
            var down = w[LlamaTensorNames.Down(l)].Data;
            for (int c = 0; c < ff; c++)
                if (!keptChannels.Contains(c))
                {
                    Array.Clear(gate, c * h, h);
                    Array.Clear(up, c * h, h);
                    for (int r = 0; r < h; r++) down[r * ff + c] = 0;
                }
        }
        return w;
    }

    [Theory]
    [InlineData("rand", 4, 0.5)]    // MHA: a unit is one head
    [InlineData("rand", 2, 0.5)]    // GQA: a unit is a kv group with its 2 query heads
    [InlineData("stru", 2, 0.5)]
    [InlineData("stru", 4, 0.3)]
    [InlineData("stru", 4, 0.75)]
    public void Pruned_model_logits_equal_the_original_logits_with_removed_units_zeroed(string method, int kvHeads, double ratio)
    {
        using var dir = new TempFolder();
        var src = Path.Combine(dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 4, KvHeads = kvHeads, Heads = 4 });
        using var cpu = new CpuBackend(2);
        ModelPruner.Run(Options(src, Path.Combine(dir.Path, "pruned"), PruningMethods.Parse(method), ratio), cpu);
        var record = PruningRecord.LoadFor(Path.Combine(dir.Path, "pruned"));

        using var pruned = LlamaModel.Load(Path.Combine(dir.Path, "pruned"), cpu);
        var (config, weights) = HostWeights(src);
        using var masked = ModelFrom(config, ZeroRemovedUnits(weights, config, record), cpu);
        var ours = Logits(pruned, Tokens);
        var reference = Logits(masked, Tokens);
        // Zero terms add exactly nothing; only the summation order of the shorter products differs.
        double error = MaxRelativeDifference(ours, reference);
        Assert.True(error < 1e-5, $"relative difference {error:E2}");
        // And the pruning did something: without zeroing the logits differ.
        using var original = LlamaModel.Load(src, cpu);
        Assert.True(MaxRelativeDifference(Logits(original, Tokens), reference) > 1e-4);
    }

    [Theory]
    [InlineData("rand", 2, 0.5, 1, 24)]
    [InlineData("stru", 4, 0.3, 3, 33)]
    [InlineData("stru", 4, 0.75, 1, 12)]
    public void Each_pruned_layer_keeps_exactly_the_counted_units_and_the_planner_predicts_the_folder(string method, int kvHeads,
        double ratio, int keptGroups, int keptChannels)
    {
        using var dir = new TempFolder();
        var src = Path.Combine(dir.Path, "model");
        var config = TinyLlama.Write(src, new TinyLlamaOptions { Layers = 4, KvHeads = kvHeads, Heads = 4, Intermediate = 48 });
        using var cpu = new CpuBackend(2);
        var m = PruningMethods.Parse(method);
        var summary = ModelPruner.Run(Options(src, Path.Combine(dir.Path, "pruned"), m, ratio), cpu);
        var prunedConfig = LlamaConfig.Load(Path.Combine(dir.Path, "pruned", "config.json"));
        var record = PruningRecord.LoadFor(Path.Combine(dir.Path, "pruned"));
        int groupSize = 4 / kvHeads;
        for (int l = 0; l < 4; l++)
        {
            bool pruned = l is 1 or 2;   // keep-first 1, keep-last 1
            Assert.Equal(pruned, record.Layers[l].Pruned);
            Assert.Equal(pruned ? keptGroups : kvHeads, prunedConfig.KvHeadsAt(l));
            Assert.Equal(pruned ? keptGroups * groupSize : 4, prunedConfig.HeadsAt(l));
            Assert.Equal(pruned ? keptChannels : 48, prunedConfig.IntermediateAt(l));
        }
        // n − ⌊n·ratio⌋ groups and ⌊I·(1 − ratio)⌋ channels, as StructuredCounts states.
        Assert.Equal(keptGroups, StructuredCounts.KeptUnits(kvHeads, ratio));
        Assert.Equal(keptChannels, StructuredCounts.KeptChannels(48, ratio));
        var plan = ParameterPlan.For(config, m, ratio, keepFirst: 1, keepLast: 1);
        Assert.Equal(prunedConfig.ParameterCount(), plan.PrunedParameters);
        Assert.Equal(plan.PrunedParameters, summary.ParametersAfter);
        Assert.Equal(config.ParameterCount(), summary.ParametersBefore);
        // The folder's safetensors hold exactly that many numbers.
        using var weights = LlamaWeights.Load(Path.Combine(dir.Path, "pruned"), cpu);
        Assert.Equal(plan.PrunedParameters, weights.Tensors.Values.Sum(t => t.Length));
    }

    [Theory]
    [InlineData("stru")]
    [InlineData("rand")]
    public void Ratio_zero_reproduces_the_original_logits_exactly(string method)
    {
        using var dir = new TempFolder();
        var src = Path.Combine(dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 4, KvHeads = 2, DType = Tensors.DType.BF16 });
        using var cpu = new CpuBackend(1);
        ModelPruner.Run(Options(src, Path.Combine(dir.Path, "pruned"), PruningMethods.Parse(method), 0), cpu);
        using var original = LlamaModel.Load(src, cpu);
        using var pruned = LlamaModel.Load(Path.Combine(dir.Path, "pruned"), cpu);
        Assert.Equal(Logits(original, Tokens), Logits(pruned, Tokens));
        Assert.Null(pruned.Config.LayerHeads);   // nothing removed: an ordinary config
    }

    [Fact]
    public void Stru_keeps_the_units_with_the_highest_scores_and_rand_depends_only_on_the_seed()
    {
        Assert.Equal([1, 3], StructuredSelection.TopK([0.1, 5, 0.2, 7], 2));
        Assert.Equal([0, 1], StructuredSelection.TopK([1, 1, 1, 0], 2));   // ties go to the lower index
        var config = TinyLlama.Config(new TinyLlamaOptions { Layers = 6, Heads = 8, KvHeads = 8, Hidden = 64, Intermediate = 200 });
        var a = StructuredSelection.Select(config, 0.5, 2, 1, null, seed: 3);
        var b = StructuredSelection.Select(config, 0.5, 2, 1, null, seed: 3);
        var c = StructuredSelection.Select(config, 0.5, 2, 1, null, seed: 4);
        for (int l = 0; l < 6; l++) Assert.Equal(a[l].KeptChannels, b[l].KeptChannels);
        Assert.NotEqual(a[2].KeptChannels, c[2].KeptChannels);
        Assert.Equal(Enumerable.Range(0, 200), a[0].KeptChannels!);      // kept-whole layers keep everything
        Assert.Equal(100, a[2].KeptChannels!.Length);
        Assert.Equal(4, a[3].KeptKvHeads!.Length);
    }
}
