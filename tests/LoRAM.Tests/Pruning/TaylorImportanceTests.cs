using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Model;
using LoRAM.Pruning;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;
using static LoRAM.Tests.Pruning.ModelFixtures;

namespace LoRAM.Tests.Pruning;

/// <summary>
/// First-order Taylor importance against finite differences of the calibration loss itself: element-wise
/// |w · ∂L/∂w| against w times a central difference, vector-wise |Σ w·∂L/∂w| against the directional derivative
/// d/dt L(W + t·W_vector) along each coupled vector, and the group aggregation against explicit loops over the
/// weights a GQA key/value group couples.
/// </summary>
public class TaylorImportanceTests
{
    private static readonly int[][] Samples = RandomSamples(3, 13, seed: 2);

    private static LlamaModel Trainable(TempFolder dir, CpuBackend cpu, int kvHeads = 2)
    {
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 2, Heads = 4, KvHeads = kvHeads, Seed = 9 });
        return LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions { Trainable = true });
    }

    private static double Loss(LlamaModel model) => TaylorImportance.AccumulateGradients(model, Samples, batchSize: 8);

    /// <summary>Central difference of the loss when <paramref name="direction"/> (same shape as w) is added to w with step ±h.</summary>
    private static double DirectionalDerivative(LlamaModel model, TrainableLinear layer, float[] direction, double h)
    {
        var w = layer.Weight.Value.ToFloatArray();
        void Set(double t)
        {
            var x = new float[w.Length];
            for (int i = 0; i < w.Length; i++) x[i] = (float)(w[i] + t * direction[i]);
            model.Backend.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()), layer.Weight.Value);
        }
        Set(h); double plus = Loss(model);
        Set(-h); double minus = Loss(model);
        Set(0);
        return (plus - minus) / (2 * h);
    }

    [Fact]
    public void Element_wise_salience_equals_w_times_the_central_difference_gradient()
    {
        using var dir = new TempFolder();
        using var cpu = new CpuBackend(1);
        using var model = Trainable(dir, cpu);
        Loss(model);
        foreach (var layer in new[] { (TrainableLinear)model.Layers[0].Q, (TrainableLinear)model.Layers[1].Gate, (TrainableLinear)model.Layers[0].Down })
        {
            var w = layer.Weight.Value.ToFloatArray();
            var g = layer.Weight.Grad!.ToFloatArray();
            // The three elements of largest |w·g| (float32 differences resolve them).
            foreach (int at in Enumerable.Range(0, w.Length).OrderByDescending(i => Math.Abs(w[i] * g[i])).Take(3).ToList())
            {
                var e = new float[w.Length];
                e[at] = 1;
                double numeric = w[at] * DirectionalDerivative(model, layer, e, 1e-2);
                double analytic = (double)w[at] * g[at];
                Assert.True(Math.Abs(numeric - analytic) <= 2e-2 * Math.Abs(analytic) + 1e-6, $"{layer.Name}[{at}]: w·g = {analytic:E4}, w·ΔL/Δw = {numeric:E4}");
            }
            Loss(model);   // restore the gradients the next layer reads
        }
    }

    [Fact]
    public void Vector_wise_channel_score_is_the_sum_of_the_directional_derivatives_along_its_three_vectors()
    {
        using var dir = new TempFolder();
        using var cpu = new CpuBackend(1);
        using var model = Trainable(dir, cpu);
        Loss(model);
        var scores = TaylorImportance.Compute(model, TaylorVariant.Vector);
        var layer = model.Layers[1];
        var (gate, up, down) = ((TrainableLinear)layer.Gate, (TrainableLinear)layer.Up, (TrainableLinear)layer.Down);
        int h = gate.InFeatures, ff = gate.OutFeatures;
        foreach (int c in scores[1].Channels.Select((s, i) => (s, i)).OrderByDescending(p => p.s).Take(2).Select(p => p.i).ToList())
        {
            // Direction = the channel's own weights: d/dt L(W + t·W_c) = Σ_{k ∈ c} w_k ∂L/∂w_k.
            float[] Row(TrainableLinear m) { var w = m.Weight.Value.ToFloatArray(); var d = new float[w.Length]; Array.Copy(w, c * h, d, c * h, h); return d; }
            float[] Column(TrainableLinear m) { var w = m.Weight.Value.ToFloatArray(); var d = new float[w.Length]; for (int r = 0; r < h; r++) d[r * ff + c] = w[r * ff + c]; return d; }
            double numeric = Math.Abs(DirectionalDerivative(model, gate, Row(gate), 1e-2))
                + Math.Abs(DirectionalDerivative(model, up, Row(up), 1e-2))
                + Math.Abs(DirectionalDerivative(model, down, Column(down), 1e-2));
            Assert.True(Math.Abs(numeric - scores[1].Channels[c]) <= 3e-2 * scores[1].Channels[c], $"channel {c}: {scores[1].Channels[c]:E4} vs {numeric:E4}");
        }
    }

    [Theory]
    [InlineData(TaylorVariant.Element)]
    [InlineData(TaylorVariant.Vector)]
    public void A_kv_group_aggregates_its_k_and_v_rows_its_query_heads_rows_and_their_o_columns(TaylorVariant variant)
    {
        using var dir = new TempFolder();
        using var cpu = new CpuBackend(1);
        using var model = Trainable(dir, cpu, kvHeads: 2);   // 4 query heads, 2 per group
        Loss(model);
        var scores = TaylorImportance.Compute(model, variant);
        var layer = model.Layers[0];
        int d = layer.HeadDim;
        double Vector(TrainableLinear m, int index, bool row)
        {
            var w = m.Weight.Value.ToFloatArray();
            var g = m.Weight.Grad!.ToFloatArray();
            int rows = m.OutFeatures, cols = m.InFeatures;
            double sum = 0, absSum = 0;
            for (int k = 0; k < (row ? cols : rows); k++)
            {
                int i = row ? index * cols + k : k * cols + index;
                sum += (double)w[i] * g[i];
                absSum += Math.Abs((double)w[i] * g[i]);
            }
            return variant == TaylorVariant.Element ? absSum : Math.Abs(sum);
        }
        for (int group = 0; group < 2; group++)
        {
            double expected = 0;
            for (int t = 0; t < d; t++)
            {
                expected += Vector((TrainableLinear)layer.K, group * d + t, row: true) + Vector((TrainableLinear)layer.V, group * d + t, row: true);
                foreach (int head in new[] { 2 * group, 2 * group + 1 })
                    expected += Vector((TrainableLinear)layer.Q, head * d + t, row: true) + Vector((TrainableLinear)layer.O, head * d + t, row: false);
            }
            Assert.Equal(expected, scores[0].KvGroups[group], 1e-9 * expected);
        }
    }
}
