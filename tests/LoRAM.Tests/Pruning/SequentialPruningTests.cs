using LoRAM.Llama.Tests.Support;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Planning;
using LoRAM.Pruning;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;
using static LoRAM.Tests.Pruning.ModelFixtures;

namespace LoRAM.Tests.Pruning;

/// <summary>
/// LoRAM-Semi / LoRAM-Unst (SparseGPT) and the baselines run through the model layer by layer: exact sparsity per
/// pattern, lower reconstruction error than magnitude and Wanda on the same inputs, inputs taken from the
/// already-pruned layers below, and the folder they write (zeroed weights, masks, record).
/// </summary>
public class SequentialPruningTests
{
    private const int SeqLen = 32;
    private static readonly int[][] Samples = RandomSamples(12, SeqLen + 1, seed: 4);

    private static string TinyModel(TempFolder dir, int layers = 3, string name = "model")
    {
        var path = Path.Combine(dir.Path, name);
        TinyLlama.Write(path, new TinyLlamaOptions { Layers = layers, Hidden = 64, Heads = 4, KvHeads = 2, Intermediate = 96, Seed = 21 });
        return path;
    }

    private static List<SequentialPruning.ProjectionResult> Prune(string folder, CpuBackend cpu, PruningMethod method, SparsityTarget target,
        int keepFirst = 0, int keepLast = 0, string? saveTo = null)
    {
        using var model = LlamaModel.Load(folder, cpu, new LlamaModelOptions { FrozenDType = DType.F32 });
        var results = SequentialPruning.Run(model, Samples, SeqLen, method, target, keepFirst, keepLast);
        if (saveTo is not null) model.Save(saveTo, tokenizerFrom: folder);
        return results;
    }

    [Fact]
    public void SparseGpt_reconstructs_the_first_layer_better_than_magnitude_and_wanda_at_the_same_sparsity()
    {
        using var dir = new TempFolder();
        var folder = TinyModel(dir);
        using var cpu = new CpuBackend(2);
        foreach (var target in new[] { SparsityTarget.Unstructured(0.5), SparsityTarget.SemiStructured(2, 4) })
        {
            var sparseGpt = Prune(folder, cpu, target.IsSemiStructured ? PruningMethod.Semi : PruningMethod.Unst, target);
            var magnitude = Prune(folder, cpu, PruningMethod.Magnitude, target);
            var wanda = Prune(folder, cpu, PruningMethod.Wanda, target);
            // Layer 0 sees the same calibration inputs under every method; compare projection by projection.
            for (int i = 0; i < 7; i++)
            {
                Assert.Equal(0, sparseGpt[i].Layer);
                double s = sparseGpt[i].RelativeError, m = magnitude[i].RelativeError, w = wanda[i].RelativeError;
                Assert.True(s < m && s < w, $"{target} {sparseGpt[i].Module}: SparseGPT {s:E3}, magnitude {m:E3}, Wanda {w:E3}");
            }
            // And summed over the whole model.
            Assert.True(sparseGpt.Sum(r => r.RelativeError) < magnitude.Sum(r => r.RelativeError));
        }
    }

    [Theory]
    [InlineData("semi", 2, 4, 0.0)]
    [InlineData("semi", 4, 8, 0.0)]
    [InlineData("unst", 0, 0, 0.5)]
    [InlineData("unst", 0, 0, 0.3)]
    [InlineData("wanda", 0, 0, 0.4)]
    [InlineData("magnitude", 2, 4, 0.0)]
    public void Masks_have_exactly_N_kept_in_every_group_of_M_and_the_pruned_fraction_equals_the_ratio(string method, int n, int m, double ratio)
    {
        using var dir = new TempFolder();
        var folder = TinyModel(dir, layers: 2);
        using var cpu = new CpuBackend(2);
        var target = m > 0 ? SparsityTarget.SemiStructured(n, m) : SparsityTarget.Unstructured(ratio);
        var results = Prune(folder, cpu, PruningMethods.Parse(method), target, saveTo: Path.Combine(dir.Path, "out"));
        Assert.Equal(14, results.Count);
        var (_, saved) = HostWeights(Path.Combine(dir.Path, "out"));
        foreach (var r in results)
        {
            long count = (long)r.Mask.Rows * r.Mask.Cols;
            if (m > 0)
            {
                Assert.True(r.Mask.SatisfiesNM(n, m), $"{r.Name} violates {n}:{m}");
                Assert.Equal(count * (m - n) / m, r.Mask.PrunedCount);   // at most N kept of M and exactly M − N removed
            }
            else if (method == "wanda") Assert.Equal(r.Mask.Rows * (long)Math.Floor(ratio * r.Mask.Cols + 1e-9), r.Mask.PrunedCount);
            else Assert.Equal((long)Math.Floor(ratio * count + 1e-9), r.Mask.PrunedCount);
            // The saved weight is zero wherever the mask prunes.
            var w = saved[r.Name].Data;
            for (int i = 0; i < w.Length; i++)
                if (!r.Mask.Kept[i]) Assert.Equal(0f, w[i]);
        }
    }

    [Fact]
    public void Each_layer_is_pruned_on_the_outputs_of_the_already_pruned_layers_below()
    {
        using var dir = new TempFolder();
        var folder = TinyModel(dir, layers: 2);
        using var cpu = new CpuBackend(2);
        var target = SparsityTarget.Unstructured(0.5);
        // Both layers in one sequential run …
        var both = Prune(folder, cpu, PruningMethod.Unst, target, saveTo: Path.Combine(dir.Path, "both"));
        // … equals pruning layer 0, saving, and then pruning layer 1 of the saved model.
        Prune(folder, cpu, PruningMethod.Unst, target, keepFirst: 0, keepLast: 1, saveTo: Path.Combine(dir.Path, "first"));
        var second = Prune(Path.Combine(dir.Path, "first"), cpu, PruningMethod.Unst, target, keepFirst: 1, saveTo: Path.Combine(dir.Path, "two-step"));
        // Pruning layer 1 on the unpruned layer 0's outputs gives another answer.
        var unpruned = Prune(folder, cpu, PruningMethod.Unst, target, keepFirst: 1, saveTo: Path.Combine(dir.Path, "one-only"));

        var (_, a) = HostWeights(Path.Combine(dir.Path, "both"));
        var (_, b) = HostWeights(Path.Combine(dir.Path, "two-step"));
        var (_, c) = HostWeights(Path.Combine(dir.Path, "one-only"));
        for (int i = 0; i < 7; i++)
        {
            Assert.Equal(both[7 + i].Mask.Kept.ToArray(), second[i].Mask.Kept.ToArray());
            Assert.Equal(a[second[i].Name].Data, b[second[i].Name].Data);
        }
        Assert.Contains(Enumerable.Range(0, 7), i => !a[unpruned[i].Name].Data.SequenceEqual(c[unpruned[i].Name].Data));
    }

    [Theory]
    [InlineData("semi")]
    [InlineData("unst")]
    [InlineData("magnitude")]
    public void Prune_writes_same_shape_weights_round_tripping_masks_and_a_record_the_planner_agrees_with(string method)
    {
        using var dir = new TempFolder();
        var folder = TinyModel(dir, layers: 3);
        using var cpu = new CpuBackend(2);
        var m = PruningMethods.Parse(method);
        var output = Path.Combine(dir.Path, "pruned");
        var summary = ModelPruner.Run(new PruneOptions
        {
            Model = folder, Out = output, Method = m, Ratio = 0.5, Samples = 6, SeqLen = 24, KeepFirst = 1,
        }, cpu);
        Assert.False(summary.ReducesMemory);
        Assert.DoesNotContain(Directory.GetDirectories(dir.Path), d => Path.GetFileName(d).StartsWith('.'));   // no temp folder left

        var record = PruningRecord.LoadFor(output);
        var masks = MaskFile.Load(Path.Combine(output, record.MasksFile!));
        Assert.Equal(record.MaskedTensors!.Order(), masks.Keys.Order());
        Assert.Equal(14, masks.Count);                                   // layers 1 and 2, seven projections each
        Assert.DoesNotContain(masks.Keys, k => k.StartsWith("model.layers.0."));
        var (config, weights) = HostWeights(output);
        Assert.Equal(LlamaConfig.Load(Path.Combine(folder, "config.json")).ParameterCount(), config.ParameterCount());
        foreach (var (name, mask) in masks)
        {
            var w = weights[name].Data;
            Assert.Equal(new[] { mask.Rows, mask.Cols }, weights[name].Shape);
            for (int i = 0; i < w.Length; i++) if (!mask.Kept[i]) Assert.Equal(0f, w[i]);
        }
        var plan = ParameterPlan.For(config, m, 0.5, keepFirst: 1, keepLast: 0);
        Assert.Equal(plan.PrunedParameters, record.PrunedParameters);
        Assert.Equal(plan.PrunedParameters, summary.ParametersAfter);
        if (m != PruningMethod.Magnitude) Assert.NotNull(summary.MeanRelativeError);
    }
}
