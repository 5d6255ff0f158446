using LoRAM.Autograd;
using LoRAM.Llama;
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
    public static LayerScores[] Compute(LlamaModel model, TaylorVariant variant) =>
        Aggregate(model, (layer, p) =>
        {
            var (w, g, rows, cols) = WeightAndGrad(layer[p]);
            return Salience(w, g, rows, cols, p, variant);
        });

    /// <summary>
    /// The same scores as <see cref="AccumulateGradients"/> + <see cref="Compute"/> with the same
    /// <paramref name="batchSize"/>, without a gradient buffer for any weight: the model stays frozen in its stored
    /// dtype (BF16, memory-mapped) and each projection is swapped for a <see cref="TaylorProbe"/> that, when the
    /// backward pass reaches it, forms its dW = dyᵀ·x, reduces W ⊙ dW into its row or column saliences and drops
    /// dW. Element-wise scores take |·| of each weight's whole gradient, so the gradient of the whole calibration
    /// loss must reach a probe in one pass: all samples go through the decoder layers as one batch, each layer
    /// checkpointed (only its input is kept), and the LM head and loss run per <paramref name="batchSize"/> samples,
    /// each piece checkpointed too (its logits exist only while it runs), weighted 1/batches like the batches of
    /// <see cref="AccumulateGradients"/>, so the loss and every gradient are the same. Peak memory: the frozen
    /// weights + N·T·d·4 bytes per layer + one layer's recomputation + one piece's logits + one [out, in] gradient.
    /// Returns the scores and the loss.
    /// </summary>
    public static (LayerScores[] Scores, double Loss) ComputeLean(LlamaModel model, IReadOnlyList<int[]> samples, TaylorVariant variant,
        int batchSize = 4, IProgressReporter? progress = null)
    {
        if (samples.Count == 0) throw new ArgumentException("no calibration samples");
        if (model.Parameters().Any()) throw new ArgumentException("the lean Taylor path takes a frozen model (LlamaModelOptions.Trainable = false)");
        var be = model.Backend;
        int length = samples[0].Length - 1, n = samples.Count, batches = (n + batchSize - 1) / batchSize, d = model.Config.HiddenSize;
        var inputs = new int[n * length];
        var targets = new int[n * length];
        for (int i = 0; i < n; i++)
        {
            var s = samples[i];
            if (s.Length != length + 1) throw new ArgumentException("calibration samples must all have the same length");
            Array.Copy(s, 0, inputs, i * length, length);
            Array.Copy(s, 1, targets, i * length, length);
        }

        var probes = new List<(DecoderLayer Layer, Projection P, LinearLayer Original, TaylorProbe Probe)>();
        bool checkpointed = model.CheckpointLayers;
        var pieceTargets = new List<Tensor>();
        using var task = (progress ?? LineProgress.None).Start("taylor", 2);
        try
        {
            foreach (var layer in model.Layers)
                foreach (var (p, original) in layer.Projections)
                {
                    if (original is not FrozenLinear { Weight: DenseFrozenWeight } frozen)
                        throw new ArgumentException($"{original.Name}: the lean Taylor path reads dense frozen weights (F32, BF16, F16), not {original.GetType().Name}");
                    var probe = new TaylorProbe(frozen, p, variant);
                    probes.Add((layer, p, original, probe));
                    layer[p] = probe;
                }
            model.CheckpointLayers = true;

            using var tape = new Tape(be);
            using var ids = Tensor.FromArray(be, inputs, n, length);
            var hidden = tape.Reshape(model.FinalHidden(tape, ids), n * length, d);
            Var? loss = null;
            for (int b0 = 0; b0 < n; b0 += batchSize)
            {
                int m = Math.Min(batchSize, n - b0);
                var tgt = Tensor.FromArray(be, targets[(b0 * length)..((b0 + m) * length)], m * length);
                pieceTargets.Add(tgt);
                // Eq. of AccumulateGradients: L = (1/batches) Σ_b mean-token-loss(batch b).
                var piece = Checkpoint.Run(tape, (tp, h) => tp.Scale(tp.CrossEntropy(model.LmHead.Forward(tp, h), tgt), 1f / batches),
                    tape.Rows(hidden, b0 * length, m * length));
                loss = loss is null ? piece : tape.Add(loss, piece);
            }
            double value = loss!.Item();
            task.Update(1, "forward", $"taylor: forward of {n} samples, loss {value:F4}");
            tape.Backward(loss);
            task.Update(2, "backward", "taylor: backward, scores reduced layer by layer");
            var byProjection = probes.ToDictionary(x => (x.Layer.Index, x.P.Index), x => x.Probe);
            var scores = Aggregate(model, (layer, p) => byProjection[(layer.Index, p.Index)].Salience
                ?? new double[Projection.Size(model.Config, layer.Index, p.Rows != ProjectionAxis.Hidden ? p.Rows : p.Columns)]);   // no gradient reached it: zeros
            return (scores, value);
        }
        finally
        {
            foreach (var (layer, p, original, _) in probes) layer[p] = original;
            model.CheckpointLayers = checkpointed;
            foreach (var t in pieceTargets) t.Dispose();
        }
    }

    /// <summary>Groups and channels of every layer from the saliences of its projections along their pruned axis.</summary>
    private static LayerScores[] Aggregate(LlamaModel model, Func<DecoderLayer, Projection, double[]> salience)
    {
        var result = new LayerScores[model.Layers.Count];
        for (int l = 0; l < result.Length; l++)
        {
            var layer = model.Layers[l];
            int d = layer.HeadDim, kv = layer.KvHeads, groupSize = layer.Heads / Math.Max(1, kv);
            var q = salience(layer, Projection.Q);
            var k = salience(layer, Projection.K);
            var v = salience(layer, Projection.V);
            var o = salience(layer, Projection.O);
            var groups = new double[kv];
            for (int g = 0; g < kv; g++)
            {
                double s = 0;
                for (int t = g * d; t < (g + 1) * d; t++) s += k[t] + v[t];
                for (int t = g * groupSize * d; t < (g + 1) * groupSize * d; t++) s += q[t] + o[t];
                groups[g] = s;
            }
            var gate = salience(layer, Projection.Gate);
            var up = salience(layer, Projection.Up);
            var down = salience(layer, Projection.Down);
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

    /// <summary>Salience along the axis structured pruning removes: rows of q, k, v, gate, up; columns of o, down.</summary>
    internal static double[] Salience(float[] w, float[] g, int rows, int cols, Projection p, TaylorVariant variant) =>
        p.Rows != ProjectionAxis.Hidden ? RowSalience(w, g, rows, cols, variant) : ColumnSalience(w, g, rows, cols, variant);

    /// <summary>
    /// <see cref="Salience(float[], float[], int, int, Projection, TaylorVariant)"/> of a weight and gradient that stay
    /// on their backend: read a few rows at a time (at most 16 K elements, below the large-object heap's threshold),
    /// so no host copy the size of W is ever made. The rows are visited in the same order with the same double
    /// accumulation, so the saliences are bit-identical to the whole-array path.
    /// </summary>
    internal static double[] Salience(Tensor w, Tensor g, Projection p, TaylorVariant variant)
    {
        int rows = w.Dim(0), cols = w.Dim(1);
        bool byRow = p.Rows != ProjectionAxis.Hidden;
        var s = new double[byRow ? rows : cols];
        int block = Math.Max(1, (16 << 10) / Math.Max(1, cols));
        for (int r0 = 0; r0 < rows; r0 += block)
        {
            int n = Math.Min(block, rows - r0);
            float[] wb, gb;
            using (var wv = w.View((long)r0 * cols, n, cols)) wb = wv.ToFloatArray();
            using (var gv = g.View((long)r0 * cols, n, cols)) gb = gv.ToFloatArray();
            if (byRow)
            {
                var part = RowSalience(wb, gb, n, cols, variant);
                Array.Copy(part, 0, s, r0, n);
            }
            else AccumulateColumns(wb, gb, n, cols, variant, s);
        }
        if (!byRow) for (int c = 0; c < cols; c++) s[c] = Math.Abs(s[c]);
        return s;
    }

    /// <summary>Per output row r: Σ_j |W_rj G_rj| (element) or |Σ_j W_rj G_rj| (vector).</summary>
    internal static double[] RowSalience(float[] w, float[] g, int rows, int cols, TaylorVariant variant)
    {
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
    internal static double[] ColumnSalience(float[] w, float[] g, int rows, int cols, TaylorVariant variant)
    {
        var s = new double[cols];
        AccumulateColumns(w, g, rows, cols, variant, s);
        for (int c = 0; c < cols; c++) s[c] = Math.Abs(s[c]);
        return s;
    }

    /// <summary>s[c] += Σ_i |W_ic G_ic| (element) or Σ_i W_ic G_ic (vector) over the given rows, in row order.</summary>
    private static void AccumulateColumns(float[] w, float[] g, int rows, int cols, TaylorVariant variant, double[] s)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0, i = r * cols; c < cols; c++, i++)
            {
                double x = (double)w[i] * g[i];
                s[c] += variant == TaylorVariant.Element ? Math.Abs(x) : x;
            }
    }
}
