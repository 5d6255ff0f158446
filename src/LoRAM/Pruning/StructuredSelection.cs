using LoRAM.Data;
using LoRAM.Llama;

namespace LoRAM.Pruning;

/// <summary>
/// Which key/value groups and MLP channels each layer keeps (block-wise local pruning: attention and MLP are
/// separate blocks, every pruned layer loses the same fraction, <see cref="StructuredCounts"/>). LoRAM-Stru keeps
/// the highest Taylor scores; LoRAM-Rand draws the same counts uniformly at random. Kept indices are ascending,
/// so the pruned model keeps the original order of heads and channels.
/// </summary>
public static class StructuredSelection
{
    /// <summary>
    /// One <see cref="PruningRecord.LayerRecord"/> per layer of <paramref name="config"/>. With <paramref name="scores"/>
    /// (LoRAM-Stru) the top-scoring units are kept (ties: lower index); without (LoRAM-Rand) a seeded uniform choice.
    /// </summary>
    public static PruningRecord.LayerRecord[] Select(LlamaConfig config, double ratio, int keepFirst, int keepLast,
        TaylorImportance.LayerScores[]? scores, int seed)
    {
        StructuredCounts.Check(ratio, keepFirst, keepLast);
        var pruned = StructuredCounts.PrunedConfig(config, ratio, keepFirst, keepLast);
        var layers = new PruningRecord.LayerRecord[config.NumHiddenLayers];
        for (int l = 0; l < layers.Length; l++)
        {
            int heads = config.HeadsAt(l), kv = config.KvHeadsAt(l), ff = config.IntermediateAt(l);
            int keepKv = pruned.KvHeadsAt(l), keepFf = pruned.IntermediateAt(l);
            bool isPruned = StructuredCounts.IsPruned(l, layers.Length, keepFirst, keepLast);
            int[] groups, channels;
            if (scores is not null)
            {
                if (scores[l].KvGroups.Length != kv || scores[l].Channels.Length != ff)
                    throw new ArgumentException($"layer {l}: scores for {scores[l].KvGroups.Length} groups / {scores[l].Channels.Length} channels, config has {kv} / {ff}");
                groups = TopK(scores[l].KvGroups, keepKv);
                channels = TopK(scores[l].Channels, keepFf);
            }
            else
            {
                var rng = Rng.For(seed, $"loram-rand/layer{l}");
                groups = RandomK(kv, keepKv, rng);
                channels = RandomK(ff, keepFf, rng);
            }
            layers[l] = new PruningRecord.LayerRecord
            {
                Layer = l, Pruned = isPruned, OriginalHeads = heads, OriginalKvHeads = kv, OriginalIntermediate = ff,
                KeptKvHeads = groups, KeptHeads = PruningRecord.HeadsOfGroups(groups, heads / kv), KeptChannels = channels,
            };
        }
        return layers;
    }

    /// <summary>Indices of the <paramref name="k"/> highest scores (ties to the lower index), ascending.</summary>
    public static int[] TopK(double[] scores, int k)
    {
        if (k >= scores.Length) return Enumerable.Range(0, scores.Length).ToArray();
        return Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(k).Order().ToArray();
    }

    /// <summary>A uniform random <paramref name="k"/>-subset of 0..n−1 (partial Fisher–Yates), ascending.</summary>
    internal static int[] RandomK(int n, int k, Rng rng)
    {
        var a = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < Math.Min(k, n); i++)
        {
            int j = i + rng.Next(n - i);
            (a[i], a[j]) = (a[j], a[i]);
        }
        return a.Take(k).Order().ToArray();
    }
}
