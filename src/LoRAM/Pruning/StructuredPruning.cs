using LoRAM.Llama;
using LoRAM.Tensors;

namespace LoRAM.Pruning;

/// <summary>
/// Materializes W0^P for the structured methods: slices every coupled weight down to the kept units of its
/// layer and writes a smaller dense LLaMA (per-layer sizes in its config). Per layer l with kept query heads H,
/// key/value heads G (head width D) and channels C:
///   q_proj[H·D, :]   k_proj[G·D, :]   v_proj[G·D, :]   o_proj[:, H·D]
///   gate_proj[C, :]  up_proj[C, :]    down_proj[:, C]       (norms, embedding and LM head unchanged)
/// Removing a group is exact for the rest of the model: the kept query heads still read their own key/value head
/// (head j of group g stays in group g's new position), and the removed heads' outputs only entered through the
/// o_proj columns that go with them; an MLP channel only enters through its down_proj column.
/// </summary>
public static class StructuredPruning
{
    /// <summary>W0^P's config: the original's with each layer's kept heads, key/value heads and channels (per-layer sizes
    /// dropped again when no layer changed).</summary>
    public static LlamaConfig PrunedConfig(LlamaConfig config, IReadOnlyList<PruningRecord.LayerRecord> layers)
    {
        var pruned = config with
        {
            LayerHeads = layers.Select(l => l.KeptHeads!.Length).ToArray(),
            LayerKvHeads = layers.Select(l => l.KeptKvHeads!.Length).ToArray(),
            LayerIntermediate = layers.Select(l => l.KeptChannels!.Length).ToArray(),
        };
        if (pruned.LayerHeads.All(h => h == config.NumAttentionHeads) && pruned.LayerKvHeads.All(h => h == config.NumKeyValueHeads)
            && pruned.LayerIntermediate.All(c => c == config.IntermediateSize))
            pruned = pruned with { LayerHeads = null, LayerKvHeads = null, LayerIntermediate = null };
        return pruned;
    }

    /// <summary>
    /// Writes W0^P as a Hugging Face folder (stored dtype kept), one tensor at a time: each slice is cut from the
    /// original, written and freed before the next, so pruning a model needs the original plus one tensor, never a
    /// second model in memory. Returns the pruned config.
    /// </summary>
    public static LlamaConfig Save(LlamaWeights original, IReadOnlyList<PruningRecord.LayerRecord> layers, string folder, Backend backend,
        string? tokenizerFrom = null)
    {
        var pruned = PrunedConfig(original.Config, layers);
        var slices = Slices(original, layers, backend);
        LlamaWeights.SaveStreaming(folder, pruned, name => original[name].DType, name => slices[name](), tokenizerFrom);
        return pruned;
    }

    /// <summary>How to cut each tensor of W0^P from the original: kept rows of q/k/v/gate/up, kept columns of o/down; norms,
    /// embedding and LM head copied whole.</summary>
    private static Dictionary<string, Func<Tensor>> Slices(LlamaWeights original, IReadOnlyList<PruningRecord.LayerRecord> layers, Backend backend)
    {
        var config = original.Config;
        var slices = new Dictionary<string, Func<Tensor>>(StringComparer.Ordinal);
        foreach (var (name, _) in LlamaTensorNames.Expected(config))
            if (!name.StartsWith("model.layers.", StringComparison.Ordinal) || name.EndsWith("layernorm.weight", StringComparison.Ordinal))
                slices[name] = () => original[name].To(backend);
        int d = config.HeadDim;
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            var keep = layers[l];
            int[] qRows = Units(keep.KeptHeads!, d), kvRows = Units(keep.KeptKvHeads!, d), channels = keep.KeptChannels!;
            Func<Tensor> Rows(string name, int[] rows) => () => WeightSlicing.Rows(original[name], rows, backend);
            Func<Tensor> Columns(string name, int[] cols) => () => WeightSlicing.Columns(original[name], cols, backend);
            slices[LlamaTensorNames.Q(l)] = Rows(LlamaTensorNames.Q(l), qRows);
            slices[LlamaTensorNames.K(l)] = Rows(LlamaTensorNames.K(l), kvRows);
            slices[LlamaTensorNames.V(l)] = Rows(LlamaTensorNames.V(l), kvRows);
            slices[LlamaTensorNames.O(l)] = Columns(LlamaTensorNames.O(l), qRows);
            slices[LlamaTensorNames.Gate(l)] = Rows(LlamaTensorNames.Gate(l), channels);
            slices[LlamaTensorNames.Up(l)] = Rows(LlamaTensorNames.Up(l), channels);
            slices[LlamaTensorNames.Down(l)] = Columns(LlamaTensorNames.Down(l), channels);
        }
        return slices;
    }

    /// <summary>Unit indices → row indices (unit u = rows u·width … u·width + width − 1).</summary>
    private static int[] Units(int[] units, int width) => units.SelectMany(u => Enumerable.Range(u * width, width)).ToArray();
}
