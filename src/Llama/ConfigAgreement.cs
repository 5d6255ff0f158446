using System.Globalization;
using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;

namespace LoRAM.Llama;

/// <summary>
/// Whether the tensors of a checkpoint are the model config.json describes. Every size of the config shows in the
/// shape of some tensor, so each disagreement is reported as the field it contradicts, in one line naming config.json,
/// the field, the tensor and its file:
/// <list type="bullet">
/// <item>layers: weights for <c>model.layers.N</c> with N ≥ num_hidden_layers (a model silently cut short), or
/// num_hidden_layers above the layers present;</item>
/// <item>shapes: hidden_size, vocab_size, intermediate_size (or loram_layer_intermediate), num_attention_heads ×
/// head_dim (or loram_layer_heads), num_key_value_heads × head_dim (or loram_layer_kv_heads), each read off the
/// tensor dimension it sizes;</item>
/// <item>the head: tie_word_embeddings false without lm_head.weight, or true beside an lm_head.weight that is not the
/// embedding (the trained head would be dropped).</item>
/// </list>
/// </summary>
public static class ConfigAgreement
{
    private const string LayerPrefix = "model.layers.";

    /// <summary>The layer index of <c>model.layers.N.…</c>, else null.</summary>
    public static int? LayerOf(string tensor)
    {
        if (!tensor.StartsWith(LayerPrefix, StringComparison.Ordinal)) return null;
        int end = tensor.IndexOf('.', LayerPrefix.Length);
        if (end < 0) return null;
        return int.TryParse(tensor.AsSpan(LayerPrefix.Length, end - LayerPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int l) ? l : null;
    }

    /// <summary>Throws unless the layers the checkpoint holds weights for are exactly 0 .. num_hidden_layers − 1.</summary>
    public static void CheckLayers(LlamaConfig config, string configPath, SafetensorsCheckpoint checkpoint, string weights)
    {
        int? beyond = null, last = -1;
        string? example = null;
        var present = new HashSet<int>();
        foreach (var name in checkpoint.Names)
        {
            if (LayerOf(name) is not int l) continue;
            present.Add(l);
            last = Math.Max(last.Value, l);
            if (l >= config.NumHiddenLayers && (beyond is null || l < beyond)) { beyond = l; example = name; }
        }
        if (beyond is int first)
            throw LlamaFormatException.In(configPath, $"field 'num_hidden_layers' is {config.NumHiddenLayers}, but {weights} holds weights for layers {first}..{last} too ('{example}'): the config does not describe these weights");
        // Fewer layers present than the config names: report the first one missing (at most present.Count + 1 steps,
        // so a num_hidden_layers of a billion costs nothing here — and is refused before anything is sized by it).
        if (present.Count < config.NumHiddenLayers)
        {
            int missing = 0;
            while (present.Contains(missing)) missing++;
            throw LlamaFormatException.In(configPath, $"field 'num_hidden_layers' is {config.NumHiddenLayers}, but {weights} holds weights for {present.Count} layers: none for layer {missing} (no '{LlamaTensorNames.InputNorm(missing)}')");
        }
    }

    /// <summary>The one-line error for a tensor of the wrong shape: the config field it contradicts, with both shapes.</summary>
    public static LlamaFormatException ShapeMismatch(LlamaConfig config, string configPath, string file, string tensor, int[] actual, int[] expected)
    {
        string shapes = $"tensor '{tensor}' in {file} has shape [{string.Join(", ", actual)}], config.json implies [{string.Join(", ", expected)}]";
        return actual.Length != expected.Length
            ? LlamaFormatException.In(file, $"{shapes} (a {actual.Length}-d tensor where a {expected.Length}-d one belongs)")
            : LlamaFormatException.In(configPath, $"field {FieldOf(config, tensor, FirstDifference(actual, expected))} disagrees with the weights: {shapes}");
    }

    /// <summary>Throws when an NF4 or other specially loaded projection is not [out, in] as the config implies.</summary>
    public static void CheckLinear(LlamaConfig config, string configPath, string file, string tensor, int outFeatures, int inFeatures, int[] expected)
    {
        if (expected.Length == 2 && (outFeatures, inFeatures) == (expected[0], expected[1])) return;
        throw ShapeMismatch(config, configPath, file, tensor, [outFeatures, inFeatures], expected);
    }

    /// <summary>
    /// With tie_word_embeddings false the checkpoint must hold lm_head.weight; with true, an lm_head.weight beside the
    /// embedding must equal it (HF checkpoints may store the tied head twice; a different one is a trained head the tied
    /// model would drop).
    /// </summary>
    public static void CheckHead(LlamaConfig config, string configPath, SafetensorsCheckpoint checkpoint, string weights)
    {
        bool hasHead = checkpoint.Contains(LlamaTensorNames.LmHead);
        if (!config.TieWordEmbeddings && !hasHead)
            throw LlamaFormatException.In(configPath, $"field 'tie_word_embeddings' is false, but {weights} has no '{LlamaTensorNames.LmHead}' (set it to true if the output head is the embedding)");
        if (!config.TieWordEmbeddings || !hasHead || !checkpoint.Contains(LlamaTensorNames.Embedding)) return;
        if (!SameValues(checkpoint, LlamaTensorNames.LmHead, LlamaTensorNames.Embedding))
            throw LlamaFormatException.In(configPath, $"field 'tie_word_embeddings' is true, but '{LlamaTensorNames.LmHead}' in {checkpoint.FileOf(LlamaTensorNames.LmHead).Path} differs from the embedding: the tied model would drop that head (set tie_word_embeddings to false)");
    }

    private static bool SameValues(SafetensorsCheckpoint checkpoint, string a, string b)
    {
        SafetensorsEntry ea = checkpoint[a], eb = checkpoint[b];
        if (!ea.Shape.SequenceEqual(eb.Shape)) return false;
        if (ea.DTypeName == eb.DTypeName) return checkpoint.FileOf(a).SameBytes(a, checkpoint.FileOf(b), b);
        // Different dtypes: equal when an F32 copy rounds to the 16-bit one (a head saved in F32 beside a BF16 embedding).
        DType? narrow = ea.DType == DType.F32 ? eb.DType : eb.DType == DType.F32 ? ea.DType : null;
        if (narrow is not (DType.BF16 or DType.F16)) return false;
        using var cpu = new Tensors.Cpu.CpuBackend(1);
        using var ta = checkpoint.Load(cpu, a, narrow);
        using var tb = checkpoint.Load(cpu, b, narrow);
        return ta.ToArray<ushort>().AsSpan().SequenceEqual(tb.ToArray<ushort>());
    }

    private static int FirstDifference(int[] actual, int[] expected)
    {
        for (int i = 0; i < expected.Length; i++) if (actual[i] != expected[i]) return i;
        return 0;
    }

    /// <summary>The config field that sizes dimension <paramref name="dim"/> of <paramref name="tensor"/>, with its value.</summary>
    private static string FieldOf(LlamaConfig c, string tensor, int dim)
    {
        string Hidden() => $"'hidden_size' ({c.HiddenSize})";
        if (tensor is LlamaTensorNames.Embedding or LlamaTensorNames.LmHead)
            return dim == 0 ? $"'vocab_size' ({c.VocabSize})" : Hidden();
        if (tensor == LlamaTensorNames.FinalNorm || LayerOf(tensor) is not int l) return Hidden();
        string Heads() => c.LayerHeads is null
            ? $"'num_attention_heads' × 'head_dim' ({c.NumAttentionHeads} × {c.HeadDim})"
            : $"'loram_layer_heads'[{l}] × 'head_dim' ({c.HeadsAt(l)} × {c.HeadDim})";
        string KvHeads() => c.LayerKvHeads is null
            ? $"'num_key_value_heads' × 'head_dim' ({c.NumKeyValueHeads} × {c.HeadDim})"
            : $"'loram_layer_kv_heads'[{l}] × 'head_dim' ({c.KvHeadsAt(l)} × {c.HeadDim})";
        string Ff() => c.LayerIntermediate is null ? $"'intermediate_size' ({c.IntermediateSize})" : $"'loram_layer_intermediate'[{l}] ({c.IntermediateAt(l)})";
        if (tensor == LlamaTensorNames.Q(l)) return dim == 0 ? Heads() : Hidden();
        if (tensor == LlamaTensorNames.K(l) || tensor == LlamaTensorNames.V(l)) return dim == 0 ? KvHeads() : Hidden();
        if (tensor == LlamaTensorNames.O(l)) return dim == 0 ? Hidden() : Heads();
        if (tensor == LlamaTensorNames.Gate(l) || tensor == LlamaTensorNames.Up(l)) return dim == 0 ? Ff() : Hidden();
        if (tensor == LlamaTensorNames.Down(l)) return dim == 0 ? Hidden() : Ff();
        return Hidden();   // the two RMSNorm weights
    }
}
