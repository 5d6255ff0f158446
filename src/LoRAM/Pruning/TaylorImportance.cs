using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Progress;
using LoRAM.Tensors;

namespace LoRAM.Pruning;

/// <summary>LLM-Pruner's two first-order Taylor criteria (Ma et al. 2023, §3.2).</summary>
public enum TaylorVariant
{
    /// <summary>Element-wise: I(W_k) ≈ Σ_k |W_k · ∂L/∂W_k| over the group's weights ("param_first").</summary>
    Element,
    /// <summary>Vector-wise: I(w) ≈ |Σ_k w_k · ∂L/∂w_k| per weight vector (one row or column of one matrix), summed
    /// over the group's vectors ("vectorize").</summary>
    Vector,
}

/// <summary>
/// Importance of the coupled structures LoRAM-Stru removes, from the next-token loss on calibration samples.
/// Removing W changes the loss by ΔL = L(W − W_k) − L(W) ≈ −∂L/∂W_k · W_k (first-order Taylor), so a
/// structure is scored by the size of that estimate, aggregated (summed) over every weight it couples:
/// <list type="bullet">
/// <item>a key/value group g: rows of k_proj and v_proj of head g, rows of q_proj of the r query heads sharing
/// it, and those heads' columns of o_proj (MHA: r = 1, the group is one head);</item>
/// <item>an MLP channel c: row c of gate_proj and up_proj and column c of down_proj.</item>
/// </list>
/// </summary>
public static class TaylorImportance
{
    /// <summary>
    /// Forward and backward passes of the next-token cross-entropy over <paramref name="samples"/> (each L + 1 tokens:
    /// inputs [..L], targets [1..]) in batches, leaving ∂L/∂W in every weight's Grad, where L is the mean over
    /// batches of each batch's mean token loss. The model must be trainable (<see cref="LlamaModelOptions.Trainable"/>).
    /// Returns L.
    /// </summary>
    public static double AccumulateGradients(LlamaModel model, IReadOnlyList<int[]> samples, int batchSize = 4, IProgressReporter? progress = null)
    {
        if (samples.Count == 0) throw new ArgumentException("no calibration samples");
        var be = model.Backend;
        int length = samples[0].Length - 1, batches = (samples.Count + batchSize - 1) / batchSize;
        double total = 0;
        foreach (var p in model.Parameters()) p.ZeroGrad();
        using var task = (progress ?? LineProgress.None).Start("taylor", batches);
        for (int b0 = 0, batch = 0; b0 < samples.Count; b0 += batchSize, batch++)
        {
            int n = Math.Min(batchSize, samples.Count - b0);
            var inputs = new int[n * length];
            var targets = new int[n * length];
            for (int i = 0; i < n; i++)
            {
                var s = samples[b0 + i];
                if (s.Length != length + 1) throw new ArgumentException("calibration samples must all have the same length");
                Array.Copy(s, 0, inputs, i * length, length);
                Array.Copy(s, 1, targets, i * length, length);
            }
            using var tape = new Tape(be);
            using var ids = Tensor.FromArray(be, inputs, n, length);
            using var tgt = Tensor.FromArray(be, targets, n, length);
            var loss = tape.CrossEntropy(model.Forward(tape, ids), tgt);
            total += loss.Item() / batches;
            using var seed = Tensor.Full(be, 1f / batches, loss.Value.ShapeArray());
            tape.Backward(loss, seed);
            task.Update(batch + 1, $"batch {batch + 1}/{batches}", $"taylor: calibration batch {batch + 1}/{batches}");
        }
        return total;
    }

    /// <summary>Scores of one layer: one per key/value group and one per MLP channel.</summary>
    public sealed record LayerScores(double[] KvGroups, double[] Channels);

    /// <summary>Aggregated Taylor scores of every layer from the weights and gradients of a trainable model.</summary>
    public static LayerScores[] Compute(LlamaModel model, TaylorVariant variant)
    {
        var result = new LayerScores[model.Layers.Count];
        for (int l = 0; l < result.Length; l++)
        {
            var layer = model.Layers[l];
            int d = layer.HeadDim, kv = layer.KvHeads, groupSize = layer.Heads / Math.Max(1, kv);
            var q = RowSalience(layer.Q, variant);
            var k = RowSalience(layer.K, variant);
            var v = RowSalience(layer.V, variant);
            var o = ColumnSalience(layer.O, variant);
            var groups = new double[kv];
            for (int g = 0; g < kv; g++)
            {
                double s = 0;
                for (int t = g * d; t < (g + 1) * d; t++) s += k[t] + v[t];
                for (int t = g * groupSize * d; t < (g + 1) * groupSize * d; t++) s += q[t] + o[t];
                groups[g] = s;
            }
            var gate = RowSalience(layer.Gate, variant);
            var up = RowSalience(layer.Up, variant);
            var down = ColumnSalience(layer.Down, variant);
            var channels = new double[gate.Length];
            for (int c = 0; c < channels.Length; c++) channels[c] = gate[c] + up[c] + down[c];
            result[l] = new LayerScores(groups, channels);
        }
        return result;
    }

    private static (float[] W, float[] G, int Rows, int Cols) WeightAndGrad(LinearLayer layer)
    {
        if (layer is not TrainableLinear t) throw new ArgumentException($"{layer.Name}: Taylor importance needs a trainable model (LlamaModelOptions.Trainable)");
        var w = t.Weight.Value.ToFloatArray();
        var g = t.Weight.Grad?.ToFloatArray() ?? new float[w.Length];   // no gradient reached it: ∂L/∂W = 0
        return (w, g, t.OutFeatures, t.InFeatures);
    }

    /// <summary>Per output row r: Σ_j |W_rj G_rj| (element) or |Σ_j W_rj G_rj| (vector).</summary>
    internal static double[] RowSalience(LinearLayer layer, TaylorVariant variant)
    {
        var (w, g, rows, cols) = WeightAndGrad(layer);
        var s = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double acc = 0;
            for (int j = 0, i = r * cols; j < cols; j++, i++)
            {
                double x = (double)w[i] * g[i];
                acc += variant == TaylorVariant.Element ? Math.Abs(x) : x;
            }
            s[r] = Math.Abs(acc);
        }
        return s;
    }

    /// <summary>Per input column c: Σ_i |W_ic G_ic| (element) or |Σ_i W_ic G_ic| (vector).</summary>
    internal static double[] ColumnSalience(LinearLayer layer, TaylorVariant variant)
    {
        var (w, g, rows, cols) = WeightAndGrad(layer);
        var s = new double[cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0, i = r * cols; c < cols; c++, i++)
            {
                double x = (double)w[i] * g[i];
                s[c] += variant == TaylorVariant.Element ? Math.Abs(x) : x;
            }
        for (int c = 0; c < cols; c++) s[c] = Math.Abs(s[c]);
        return s;
    }
}
