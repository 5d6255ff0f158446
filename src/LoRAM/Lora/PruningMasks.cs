using LoRAM.Pruning;
using LoRAM.Tensors;

namespace LoRAM.Lora;

/// <summary>The masks of a non-structurally pruned folder (masks.safetensors) as F32 tensors for masked LoRA, by module path.</summary>
public static class PruningMasks
{
    /// <summary>A lookup from module path (e.g. <c>model.layers.0.self_attn.q_proj</c>) to its mask M [out, in] (1 = kept),
    /// or null when <paramref name="folder"/> has no masks file (dense or structurally pruned).</summary>
    public static Func<string, Tensor?>? Load(string folder, Backend backend)
    {
        var path = Path.Combine(folder, MaskFile.FileName);
        if (!File.Exists(path)) return null;
        var masks = MaskFile.Load(path);
        return module =>
        {
            if (!masks.TryGetValue(module + ".weight", out var m)) return null;
            var values = new float[(long)m.Rows * m.Cols];
            var kept = m.Kept;
            for (int i = 0; i < values.Length; i++) values[i] = kept[i] ? 1f : 0f;
            return Tensor.FromArray(backend, values, m.Rows, m.Cols);
        };
    }
}
