using LoRAM.Llama;
using LoRAM.Pruning;

namespace LoRAM.Planning;

/// <summary>
/// Parameter counts before and after pruning, computed from the config alone. The reduction ratio is the
/// paper's: count before / count after. Structured methods give the count of the smaller dense model they
/// write (<see cref="StructuredCounts"/>); non-structured methods give the theoretical count of nonzero
/// weights, which does not shrink memory (<see cref="ReducesMemory"/> = false) — the masked model keeps its shapes.
/// </summary>
public sealed record ParameterPlan
{
    public required PruningMethod Method { get; init; }
    /// <summary>The ratio asked for (for N:M, 1 − N/M).</summary>
    public required double Ratio { get; init; }
    /// <summary>"N:M" for semi-structured targets, else null.</summary>
    public string? NM { get; init; }
    public required int KeepFirst { get; init; }
    public required int KeepLast { get; init; }
    public required LlamaConfig Original { get; init; }
    /// <summary>The config of the model LoRA trains on: the smaller one for structured pruning, the original otherwise.</summary>
    public required LlamaConfig Trained { get; init; }
    public required long OriginalParameters { get; init; }
    public required long PrunedParameters { get; init; }
    public required bool ReducesMemory { get; init; }

    public double ReductionRatio => (double)OriginalParameters / PrunedParameters;

    /// <summary>Default layers kept whole: 4 first / 2 last for the structured methods (the paper), none for the others.</summary>
    public static (int First, int Last) DefaultKeep(PruningMethod method) =>
        method.IsStructured() ? (StructuredCounts.DefaultKeepFirst, StructuredCounts.DefaultKeepLast) : (0, 0);

    /// <summary>The plan for <paramref name="config"/>. <paramref name="nm"/> is the N:M target of semi (default 4:8)
    /// and, when given, of wanda/magnitude; it overrides the ratio.</summary>
    public static ParameterPlan For(LlamaConfig config, PruningMethod method, double ratio, SparsityTarget? nm = null,
        int? keepFirst = null, int? keepLast = null)
    {
        var (df, dl) = DefaultKeep(method);
        int first = keepFirst ?? df, last = keepLast ?? dl;
        if (method == PruningMethod.Semi) nm ??= SparsityTarget.SemiStructured(4, 8);
        if (method.IsStructured() || method == PruningMethod.Unst) nm = null;
        if (nm is { } t) ratio = t.Ratio;
        StructuredCounts.Check(ratio, first, last);

        long original = config.ParameterCount();
        if (method.IsStructured())
        {
            var pruned = StructuredCounts.PrunedConfig(config, ratio, first, last);
            return new ParameterPlan
            {
                Method = method, Ratio = ratio, KeepFirst = first, KeepLast = last, Original = config, Trained = pruned,
                OriginalParameters = original, PrunedParameters = pruned.ParameterCount(), ReducesMemory = true,
            };
        }

        long removed = 0;
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            if (!StructuredCounts.IsPruned(l, config.NumHiddenLayers, first, last)) continue;
            foreach (var (rows, cols) in ProjectionShapes(config, l))
                removed += RemovedWeights(method, ratio, nm, rows, cols);
        }
        return new ParameterPlan
        {
            Method = method, Ratio = ratio, NM = nm?.ToString(), KeepFirst = first, KeepLast = last, Original = config, Trained = config,
            OriginalParameters = original, PrunedParameters = original - removed, ReducesMemory = false,
        };
    }

    /// <summary>Weights a non-structured pruner removes from one [rows, cols] matrix (the counts of src/LoRAM/Pruning/README.md).</summary>
    internal static long RemovedWeights(PruningMethod method, double ratio, SparsityTarget? nm, int rows, int cols)
    {
        if (nm is { } t)
        {
            if (cols % t.M != 0) throw new ArgumentException($"{t} needs every projection's input width to be a multiple of {t.M}; one has {cols}");
            return (long)rows * (cols / t.M) * t.PrunedPerGroup;
        }
        return method == PruningMethod.Wanda
            ? rows * SparsityTarget.PrunedCount(ratio, cols)          // per output row
            : SparsityTarget.PrunedCount(ratio, (long)rows * cols);   // over the matrix (SparseGPT, magnitude)
    }

    /// <summary>[out, in] of q, k, v, o, gate, up, down in layer <paramref name="l"/>.</summary>
    public static IEnumerable<(int Rows, int Cols)> ProjectionShapes(LlamaConfig c, int l)
    {
        int h = c.HiddenSize, q = c.HeadsAt(l) * c.HeadDim, kv = c.KvHeadsAt(l) * c.HeadDim, ff = c.IntermediateAt(l);
        return [(q, h), (kv, h), (kv, h), (h, q), (ff, h), (ff, h), (h, ff)];
    }
}
