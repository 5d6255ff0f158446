using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tests.Support;
using LoRAM.Pruning;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using static LoRAM.Tests.Pruning.ModelFixtures;

namespace LoRAM.Tests.Pruning;

/// <summary>
/// The lean Taylor path (frozen weights, checkpointed layers, each weight's gradient reduced into the scores as
/// backward passes it) against today's full-gradient path (trainable F32 model, every dW kept): same loss, same
/// element- and vector-wise scores, for MHA and GQA, tied and untied heads, several batches with a partial last one.
/// </summary>
public class LeanTaylorTests
{
    private static readonly int[][] Samples = RandomSamples(5, 13, seed: 4);   // batches of 2: 2 + 2 + 1

    private static (TaylorImportance.LayerScores[] Scores, double Loss) Full(string folder, CpuBackend cpu, TaylorVariant variant)
    {
        using var model = LlamaModel.Load(folder, cpu, new LlamaModelOptions { Trainable = true });
        double loss = TaylorImportance.AccumulateGradients(model, Samples, batchSize: 2);
        return (TaylorImportance.Compute(model, variant), loss);
    }

    private static void AssertClose(double[] expected, double[] actual, double relative, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        Assert.True(scale > 0, $"{what}: all scores are zero");
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= relative * scale, $"{what}[{i}]: full {expected[i]:E6}, lean {actual[i]:E6}");
    }

    [Theory]
    [InlineData(TaylorVariant.Element, 2, false)]
    [InlineData(TaylorVariant.Vector, 2, false)]
    [InlineData(TaylorVariant.Element, 4, true)]
    [InlineData(TaylorVariant.Vector, 1, true)]
    public void Lean_scores_equal_the_full_gradient_scores(TaylorVariant variant, int kvHeads, bool tied)
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 3, Heads = 4, KvHeads = kvHeads, Tied = tied, Seed = 11 });
        using var cpu = new CpuBackend(1);
        var (full, fullLoss) = Full(dir.Path, cpu, variant);
        using var model = LlamaModel.Load(dir.Path, cpu);
        var (lean, leanLoss) = TaylorImportance.ComputeLean(model, Samples, variant, batchSize: 2);

        Assert.Equal(fullLoss, leanLoss, 1e-5);
        for (int l = 0; l < full.Length; l++)
        {
            AssertClose(full[l].KvGroups, lean[l].KvGroups, 1e-5, $"layer {l} kv groups");
            AssertClose(full[l].Channels, lean[l].Channels, 1e-5, $"layer {l} channels");
        }
    }

    [Theory]
    [InlineData("gate_proj", TaylorVariant.Element)]   // salience per row
    [InlineData("down_proj", TaylorVariant.Element)]   // per column
    [InlineData("gate_proj", TaylorVariant.Vector)]
    [InlineData("down_proj", TaylorVariant.Vector)]
    public void Salience_read_a_few_rows_at_a_time_is_bit_identical_to_the_whole_array_salience(string module, TaylorVariant variant)
    {
        const int Rows = 211, Cols = 300;                    // 54 rows a block: four blocks, the last one partial
        var rng = new Random(17);
        float[] w = new float[Rows * Cols], g = new float[Rows * Cols];
        for (int i = 0; i < w.Length; i++) { w[i] = (float)(rng.NextDouble() - 0.5); g[i] = (float)(rng.NextDouble() - 0.5) * 1e-3f; }
        using var cpu = new CpuBackend(1);
        using var wt = Tensor.FromSpan<ushort>(cpu, w.Select(BFloat16.FromSingle).ToArray(), DType.BF16, Rows, Cols);   // a frozen BF16 weight
        using var gt = Tensor.FromArray(cpu, g, Rows, Cols);
        var p = Llama.Projection.Parse(module);
        var expected = TaylorImportance.Salience(wt.ToFloatArray(), g, Rows, Cols, p, variant);
        Assert.Equal(expected, TaylorImportance.Salience(wt, gt, p, variant));
    }

    [Fact]
    public void Bf16_weights_stay_bf16_and_give_the_scores_of_their_f32_upcast()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 2, DType = DType.BF16, Seed = 12 });
        using var cpu = new CpuBackend(1);
        var (full, _) = Full(dir.Path, cpu, TaylorVariant.Element);
        using var model = LlamaModel.Load(dir.Path, cpu);
        var before = model.Layers.Select(l => l.Q).ToList();
        var (lean, _) = TaylorImportance.ComputeLean(model, Samples, TaylorVariant.Element, batchSize: 2);

        Assert.All(model.Layers, l => Assert.Equal(DType.BF16, ((DenseFrozenWeight)l.Gate.Frozen!).Weight.DType));
        Assert.Equal(before, model.Layers.Select(l => l.Q));   // the probes are swapped back out
        Assert.False(model.CheckpointLayers);
        for (int l = 0; l < full.Length; l++)
        {
            AssertClose(full[l].KvGroups, lean[l].KvGroups, 1e-4, $"layer {l} kv groups");
            AssertClose(full[l].Channels, lean[l].Channels, 1e-4, $"layer {l} channels");
        }
    }

    [Fact]
    public void A_trainable_model_is_refused()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 1 });
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions { Trainable = true });
        Assert.Throws<ArgumentException>(() => TaylorImportance.ComputeLean(model, Samples, TaylorVariant.Element));
    }
}
