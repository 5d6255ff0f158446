using System.Diagnostics;
using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Progress;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu.Dense;

namespace LoRAM.Pruning;

/// <summary>
/// Non-structured pruning of a whole model in SparseGPT's sequential order (Frantar &amp; Alistarh 2023, §4):
/// the calibration batch is embedded once, then for l = 0 … L−1
///   1. run layer l on the hidden states that left layer l−1 — ALREADY PRUNED — recording its projections'
///      inputs X (q/k/v share n1(x), gate/up share n2(h), so one H = (2/n) X Xᵀ serves each pair/triple);
///   2. prune its seven projections (SparseGPT with H, Wanda with ‖X_j‖₂, or magnitude) and swap them in;
///   3. run the pruned layer again: its outputs are layer l+1's inputs.
/// So every layer compensates the error of the pruned layers below it. Layers outside
/// [keepFirst, L − keepLast) are only run. Works on the frozen model's slots, so any backend runs the forwards.
/// </summary>
public static class SequentialPruning
{
    /// <summary>What happened to one projection: its mask, the relative reconstruction error on its calibration inputs
    /// ‖(W − Ŵ) X‖² / ‖W X‖² (from H: Σ_r Δw_r H Δw_rᵀ / Σ_r w_r H w_rᵀ; NaN when run without calibration data).</summary>
    public sealed record ProjectionResult(string Name, int Layer, string Module, SparsityPattern Mask, double RelativeError, double Seconds);

    /// <summary>
    /// Prunes <paramref name="model"/> in place (frozen, dense projections; F32 recommended) on <paramref name="samples"/>
    /// (token windows; the first <c>seqLen</c> tokens of each are used). Returns one result per pruned projection, in order.
    /// </summary>
    public static List<ProjectionResult> Run(LlamaModel model, IReadOnlyList<int[]> samples, int seqLen, PruningMethod method,
        SparsityTarget target, int keepFirst, int keepLast, IProgressReporter? progress = null, int batchSize = 8)
    {
        if (method.IsStructured()) throw new ArgumentException($"{method.Name()} is structured; SequentialPruning is for semi, unst, wanda and magnitude");
        if (samples.Count == 0 && method != PruningMethod.Magnitude) throw new ArgumentException("no calibration samples");
        var be = model.Backend;
        var config = model.Config;
        var results = new List<ProjectionResult>();
        // Magnitude needs no data; given some anyway, its inputs are recorded too so its error can be reported.
        bool needsData = samples.Count > 0;

        var batches = new List<(Tensor Hidden, Tensor Positions)>();
        var (cos, sin) = RopeTables.Create(be, config, Math.Max(1, seqLen));
        try
        {
            if (needsData)
                for (int b0 = 0; b0 < samples.Count; b0 += batchSize)
                {
                    int n = Math.Min(batchSize, samples.Count - b0);
                    var ids = new int[n * seqLen];
                    var pos = new int[n * seqLen];
                    for (int i = 0; i < n; i++)
                    {
                        if (samples[b0 + i].Length < seqLen) throw new ArgumentException($"calibration sample {b0 + i} has {samples[b0 + i].Length} tokens, fewer than {seqLen}");
                        Array.Copy(samples[b0 + i], 0, ids, i * seqLen, seqLen);
                        for (int t = 0; t < seqLen; t++) pos[i * seqLen + t] = t;
                    }
                    using var tape = new Tape(be);
                    using var _ = tape.NoGrad();
                    using var idTensor = Tensor.FromArray(be, ids, n, seqLen);
                    batches.Add((tape.Embedding(model.Embedding, idTensor).Value.Clone(), Tensor.FromArray(be, pos, n * seqLen)));
                }

            using var task = (progress ?? LineProgress.None).Start("prune", config.NumHiddenLayers);
            foreach (var layer in model.Layers)
            {
                int l = layer.Index;
                string at = $"layer {l + 1}/{config.NumHiddenLayers}";
                if (StructuredCounts.IsPruned(l, config.NumHiddenLayers, keepFirst, keepLast))
                {
                    var clock = Stopwatch.StartNew();
                    results.AddRange(PruneLayer(layer, method, target, needsData ? batches : null, cos, sin));
                    task.Update(l + 1, at, $"{at}: pruned 7 projections ({target}) in {clock.Elapsed.TotalSeconds:F2} s");
                }
                else task.Update(l + 1, at, $"{at}: kept whole");
                if (needsData) Propagate(layer, batches, cos, sin);
            }
            return results;
        }
        finally
        {
            foreach (var (h, p) in batches) { h.Dispose(); p.Dispose(); }
            cos.Dispose();
            sin.Dispose();
        }
    }

    /// <summary>Runs the layer on every batch; with <paramref name="keep"/> the outputs replace the batches' hidden states.</summary>
    private static void Forward(DecoderLayer layer, List<(Tensor Hidden, Tensor Positions)> batches, Tensor cos, Tensor sin, bool keep)
    {
        for (int b = 0; b < batches.Count; b++)
        {
            var (hidden, positions) = batches[b];
            using var tape = new Tape(hidden.Backend);
            using var _ = tape.NoGrad();
            using var x = Var.Constant(hidden.Reshape(hidden.ShapeArray()));
            var y = layer.Forward(tape, x, new RopeContext(cos, sin, positions));
            if (!keep) continue;
            var next = y.Value.Clone();
            hidden.Dispose();
            batches[b] = (next, positions);
        }
    }

    private static void Propagate(DecoderLayer layer, List<(Tensor Hidden, Tensor Positions)> batches, Tensor cos, Tensor sin) =>
        Forward(layer, batches, cos, sin, keep: true);

    private static List<ProjectionResult> PruneLayer(DecoderLayer layer, PruningMethod method, SparsityTarget target,
        List<(Tensor Hidden, Tensor Positions)>? batches, Tensor cos, Tensor sin)
    {
        // One accumulator per distinct input: n1(x) → q, k, v; attention output → o; n2(h) → gate, up; SwiGLU → down.
        var attnIn = new HessianAccumulator(layer.Q.InFeatures);
        var oIn = new HessianAccumulator(layer.O.InFeatures);
        var mlpIn = new HessianAccumulator(layer.Gate.InFeatures);
        var downIn = new HessianAccumulator(layer.Down.InFeatures);
        var inputOf = new Dictionary<Projection, HessianAccumulator>
        {
            [Projection.Q] = attnIn, [Projection.K] = attnIn, [Projection.V] = attnIn, [Projection.O] = oIn,
            [Projection.Gate] = mlpIn, [Projection.Up] = mlpIn, [Projection.Down] = downIn,
        };
        if (batches is not null)
        {
            var (q, o, gate, down) = (layer.Q, layer.O, layer.Gate, layer.Down);
            layer.Q = new InputRecorder(q, attnIn);
            layer.O = new InputRecorder(o, oIn);
            layer.Gate = new InputRecorder(gate, mlpIn);
            layer.Down = new InputRecorder(down, downIn);
            try { Forward(layer, batches, cos, sin, keep: false); }
            finally { (layer.Q, layer.O, layer.Gate, layer.Down) = (q, o, gate, down); }
        }

        var factors = new Dictionary<HessianAccumulator, (double[] H, InverseHessianFactor? U)>(ReferenceEqualityComparer.Instance);
        var results = new List<ProjectionResult>();
        foreach (var (module, projection) in layer.Projections.ToList())
        {
            var clock = Stopwatch.StartNew();
            var dense = projection.DenseWeight ?? throw new InvalidOperationException($"{projection.Name} is not a dense weight; prune the unquantized model");
            int rows = projection.OutFeatures, cols = projection.InFeatures;
            var w = dense.ToFloatArray();
            var acc = inputOf[module];
            double[]? h = null;
            PrunedLayer pruned;
            switch (method)
            {
                case PruningMethod.Semi or PruningMethod.Unst:
                    if (!factors.TryGetValue(acc, out var f))
                    {
                        var hessian = acc.Hessian();
                        factors[acc] = f = (hessian, InverseHessianFactor.Compute(hessian, cols));
                    }
                    h = f.H;
                    pruned = SparseGpt.Prune(w, rows, cols, f.U!, target);
                    break;
                case PruningMethod.Wanda:
                    h = acc.Hessian();
                    pruned = Wanda.Prune(w, rows, cols, acc, target);
                    break;
                default:
                    if (batches is not null) h = acc.Hessian();
                    pruned = MagnitudePruning.Prune(w, rows, cols, target);
                    break;
            }
            double error = h is null ? double.NaN : RelativeError(w, pruned.Weights, rows, cols, h);
            var replacement = new FrozenLinear(projection.Name, new DenseFrozenWeight(Tensor.FromArray(dense.Backend, pruned.Weights, rows, cols)));
            layer[module] = replacement;
            projection.Dispose();
            results.Add(new ProjectionResult(projection.Name, layer.Index, module.Module, pruned.Mask, error, clock.Elapsed.TotalSeconds));
        }
        return results;
    }

    /// <summary>‖(W − Ŵ) X‖² / ‖W X‖² = Σ_r Δw_r H Δw_rᵀ / Σ_r w_r H w_rᵀ for H ∝ X Xᵀ (float64).</summary>
    internal static double RelativeError(float[] original, float[] pruned, int rows, int cols, double[] h)
    {
        var w = new double[(long)rows * cols];
        var delta = new double[w.Length];
        for (long i = 0; i < w.Length; i++) { w[i] = original[i]; delta[i] = (double)original[i] - pruned[i]; }
        return QuadraticForm(delta, rows, cols, h) / QuadraticForm(w, rows, cols, h);
    }

    private static double QuadraticForm(double[] m, int rows, int cols, double[] h)
    {
        var mh = new double[(long)rows * cols];   // M H (H symmetric, so M Hᵀ = M H)
        DenseKernels.AddProductNT(m, 0, cols, h, 0, cols, mh, 0, cols, rows, cols, cols, 1.0, lowerOnly: false, Parallelism.Options);
        double s = 0;
        for (long i = 0; i < mh.Length; i++) s += mh[i] * m[i];
        return s;
    }
}
