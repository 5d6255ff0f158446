using LoRAM.Llama;
using LoRAM.Tensors;

namespace LoRAM.Pruning;

/// <summary>
/// Materializes W0^P for the structured methods: slices every coupled weight down to the kept units of its
/// layer and returns a smaller dense LLaMA (per-layer sizes in its config). Per layer l with kept query heads H,
/// key/value heads G (head width D) and channels C:
///   q_proj[H·D, :]   k_proj[G·D, :]   v_proj[G·D, :]   o_proj[:, H·D]
///   gate_proj[C, :]  up_proj[C, :]    down_proj[:, C]       (norms, embedding and LM head unchanged)
/// Removing a group is exact for the rest of the model: the kept query heads still read their own key/value head
/// (head j of group g stays in group g's new position), and the removed heads' outputs only entered through the
/// o_proj columns that go with them; an MLP channel only enters through its down_proj column.
/// </summary>
public static class StructuredPruning
{
    /// <summary>The pruned weights (stored dtype kept, on <paramref name="backend"/>) and their config.</summary>
    public static LlamaWeights Apply(LlamaWeights original, IReadOnlyList<PruningRecord.LayerRecord> layers, Backend backend)
    {
        var config = original.Config;
        var pruned = config with
        {
            LayerHeads = layers.Select(l => l.KeptHeads!.Length).ToArray(),
            LayerKvHeads = layers.Select(l => l.KeptKvHeads!.Length).ToArray(),
            LayerIntermediate = layers.Select(l => l.KeptChannels!.Length).ToArray(),
        };
        if (pruned.LayerHeads.All(h => h == config.NumAttentionHeads) && pruned.LayerKvHeads.All(h => h == config.NumKeyValueHeads)
            && pruned.LayerIntermediate.All(c => c == config.IntermediateSize))
            pruned = pruned with { LayerHeads = null, LayerKvHeads = null, LayerIntermediate = null };

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            int d = config.HeadDim;
            foreach (var (name, _) in LlamaTensorNames.Expected(config))
                if (!name.StartsWith("model.layers.", StringComparison.Ordinal) || name.EndsWith("layernorm.weight", StringComparison.Ordinal))
                    tensors[name] = original[name].To(backend);
            for (int l = 0; l < config.NumHiddenLayers; l++)
            {
                var keep = layers[l];
                int[] qRows = Units(keep.KeptHeads!, d), kvRows = Units(keep.KeptKvHeads!, d), channels = keep.KeptChannels!;
                tensors[LlamaTensorNames.Q(l)] = WeightSlicing.Rows(original[LlamaTensorNames.Q(l)], qRows, backend);
                tensors[LlamaTensorNames.K(l)] = WeightSlicing.Rows(original[LlamaTensorNames.K(l)], kvRows, backend);
                tensors[LlamaTensorNames.V(l)] = WeightSlicing.Rows(original[LlamaTensorNames.V(l)], kvRows, backend);
                tensors[LlamaTensorNames.O(l)] = WeightSlicing.Columns(original[LlamaTensorNames.O(l)], qRows, backend);
                tensors[LlamaTensorNames.Gate(l)] = WeightSlicing.Rows(original[LlamaTensorNames.Gate(l)], channels, backend);
                tensors[LlamaTensorNames.Up(l)] = WeightSlicing.Rows(original[LlamaTensorNames.Up(l)], channels, backend);
                tensors[LlamaTensorNames.Down(l)] = WeightSlicing.Columns(original[LlamaTensorNames.Down(l)], channels, backend);
            }
            return LlamaWeights.FromTensors(pruned, tensors, "structured pruning");
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Unit indices → row indices (unit u = rows u·width … u·width + width − 1).</summary>
    private static int[] Units(int[] units, int width) => units.SelectMany(u => Enumerable.Range(u * width, width)).ToArray();
}
