using LoRAM.Llama;

namespace LoRAM.Pruning;

/// <summary>
/// The counting convention of block-wise structured pruning that reproduces the paper's Tables 4–6: layers
/// [keepFirst, L − keepLast) are pruned, every other layer is kept whole; a pruned layer with n attention units
/// (key/value groups under GQA, heads otherwise) keeps n − ⌊n·ratio⌋ of them and, of its I MLP channels,
/// ⌊I·(1 − ratio)⌋. E.g. LLaMA-2-13B at 0.65: 40 → 14 heads, 13824 → 4838 channels in layers 4..37,
/// 13,015,864,320 → 6,005,662,720 parameters (2.17×).
/// </summary>
public static class StructuredCounts
{
    public const int DefaultKeepFirst = 4, DefaultKeepLast = 2;

    /// <summary>⌊x⌋, robust to x landing a rounding error below an integer (40 · 0.65 = 25.999…).</summary>
    private static int Floor(double x) => (int)Math.Floor(x + 1e-9);

    /// <summary>Attention units (key/value groups) kept in a pruned layer: n − ⌊n·ratio⌋.</summary>
    public static int KeptUnits(int units, double ratio) => units - Floor(units * ratio);

    /// <summary>MLP channels kept in a pruned layer: ⌊I·(1 − ratio)⌋.</summary>
    public static int KeptChannels(int channels, double ratio) => Floor(channels * (1 - ratio));

    /// <summary>Whether layer <paramref name="layer"/> of <paramref name="layers"/> is pruned (not among the first/last kept whole).</summary>
    public static bool IsPruned(int layer, int layers, int keepFirst, int keepLast) => layer >= keepFirst && layer < layers - keepLast;

    /// <summary>
    /// The config of the structurally pruned model: per-layer query heads, key/value heads and MLP channels
    /// (<c>loram_layer_*</c> fields); identical to <paramref name="config"/> when nothing is removed.
    /// </summary>
    /// <exception cref="ArgumentException">ratio outside [0, 1), negative keep counts, or a layer would lose every channel.</exception>
    public static LlamaConfig PrunedConfig(LlamaConfig config, double ratio, int keepFirst = DefaultKeepFirst, int keepLast = DefaultKeepLast)
    {
        Check(ratio, keepFirst, keepLast);
        int layers = config.NumHiddenLayers;
        var heads = new int[layers];
        var kvHeads = new int[layers];
        var channels = new int[layers];
        bool changed = false;
        for (int l = 0; l < layers; l++)
        {
            int h = config.HeadsAt(l), kv = config.KvHeadsAt(l), ff = config.IntermediateAt(l);
            if (IsPruned(l, layers, keepFirst, keepLast) && kv > 0)
            {
                int groupSize = h / kv, keptKv = KeptUnits(kv, ratio), keptFf = KeptChannels(ff, ratio);
                if (keptKv <= 0) throw new ArgumentException($"ratio {ratio} leaves layer {l} without attention heads");
                if (keptFf <= 0) throw new ArgumentException($"ratio {ratio} leaves layer {l} without MLP channels (⌊{ff}·(1 − {ratio})⌋ = 0)");
                (h, kv, ff) = (keptKv * groupSize, keptKv, keptFf);
            }
            heads[l] = h; kvHeads[l] = kv; channels[l] = ff;
            changed |= h != config.NumAttentionHeads || kv != config.NumKeyValueHeads || ff != config.IntermediateSize;
        }
        if (!changed) return config with { LayerHeads = null, LayerKvHeads = null, LayerIntermediate = null };
        return config with { LayerHeads = heads, LayerKvHeads = kvHeads, LayerIntermediate = channels };
    }

    internal static void Check(double ratio, int keepFirst, int keepLast)
    {
        if (!(ratio >= 0 && ratio < 1)) throw new ArgumentException($"pruning ratio must be in [0, 1), got {ratio}");
        if (keepFirst < 0 || keepLast < 0) throw new ArgumentException($"--keep-first and --keep-last must be 0 or more, got {keepFirst} and {keepLast}");
    }
}
