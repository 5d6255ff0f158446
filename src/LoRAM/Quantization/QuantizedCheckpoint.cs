using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;

namespace LoRAM.Quantization;

/// <summary>
/// Reading a model folder written by <c>loram quantize</c> (<see cref="ModelQuantizer"/>): config.json carries a
/// bitsandbytes-style <c>quantization_config</c>, and each quantized projection is stored in
/// <see cref="BitsandbytesLayout"/>. The model loader asks <see cref="TryLoadLinear"/> for each linear weight and
/// falls back to a dense load when it returns null.
/// </summary>
public static class QuantizedCheckpoint
{
    /// <summary>True when the folder's config.json declares 4-bit bitsandbytes quantization.</summary>
    public static bool IsQuantized(string folder)
    {
        var path = Path.Combine(folder, ModelFolder.Config);
        if (!File.Exists(path)) return false;
        try
        {
            var q = JsonNode.Parse(File.ReadAllText(path))?["quantization_config"];
            return q?["quant_method"]?.GetValue<string>() == "bitsandbytes" && q["load_in_4bit"]?.GetValue<bool>() == true;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new LlamaFormatException($"{path}: cannot read quantization_config ({e.Message})", e);
        }
    }

    /// <summary>
    /// The linear weight <paramref name="weightName"/> (e.g. <c>model.layers.0.mlp.up_proj.weight</c>) as an
    /// <see cref="Nf4FrozenWeight"/> on <paramref name="backend"/> when the checkpoint stores it quantized, else null.
    /// A doubly-quantized absmax is expanded to float32 here: absmax_b = map[code_b]·scale_{b/256} + offset.
    /// Throws <see cref="LlamaFormatException"/> naming the file and tensor when the arrays do not fit together.
    /// </summary>
    public static FrozenWeight? TryLoadLinear(SafetensorsCheckpoint checkpoint, string weightName, Backend backend)
    {
        string stateName = weightName + BitsandbytesLayout.QuantState;
        if (!checkpoint.Contains(stateName)) return null;
        var file = checkpoint.FileOf(stateName);
        LlamaFormatException Bad(string tensor, string what) => new($"{file.Path}: tensor '{tensor}': {what}");

        BitsandbytesLayout.State state;
        try { state = BitsandbytesLayout.ParseQuantState(file.RawBytes(stateName)); }
        catch (FormatException e) { throw Bad(stateName, e.Message); }
        if (state.QuantType != "nf4") throw Bad(stateName, $"quant_type '{state.QuantType}' is not supported (only nf4)");
        if (state.BlockSize != Nf4Matrix.BlockSize) throw Bad(stateName, $"blocksize {state.BlockSize} is not supported (only {Nf4Matrix.BlockSize})");
        int rows = state.Rows, cols = state.Cols;
        // Blocks of 64 run along the flattened weight (bitsandbytes): any in_features works, a block may straddle two
        // rows and the last block may be short.
        if (rows <= 0 || cols <= 0)
            throw Bad(stateName, $"shape [{rows}, {cols}] must be positive");
        var (codeBytes, blocks) = Nf4Matrix.Sizes(rows, cols);

        var codesEntry = Require(checkpoint, weightName, Bad);
        if (codesEntry.DTypeName != "U8" || codesEntry.Elements != codeBytes)
            throw Bad(weightName, $"expected U8 codes of {codeBytes} bytes for [{rows}, {cols}], got {codesEntry.DTypeName}[{string.Join(", ", codesEntry.Shape)}]");
        string mapName = weightName + BitsandbytesLayout.QuantMap;
        if (checkpoint.Contains(mapName))
        {
            var map = Floats(checkpoint, mapName, 16, Bad);
            if (!map.AsSpan().SequenceEqual(Nf4Matrix.Levels)) throw Bad(mapName, "is not the NF4 code table");
        }

        float[] absmax = ReadAbsmax(checkpoint, weightName, state, blocks, Bad);
        // The codes are 4-bit indices, always finite; a NaN/Inf scale (stored, or from nested scales/offset) is not.
        for (int b = 0; b < absmax.Length; b++)
            if (!float.IsFinite(absmax[b]))
                throw Bad(weightName + BitsandbytesLayout.Absmax, $"block {b}'s scale is {absmax[b]} (NaN/Inf): the weights are corrupt");
        var codes = checkpoint.Load(backend, weightName);
        try
        {
            using (codes)
            {
                var flat = codes.Reshape(checked((int)codeBytes));
                try { return new Nf4FrozenWeight(new Nf4Matrix(flat, Tensor.FromArray(backend, absmax, absmax.Length), rows, cols)); }
                catch { flat.Dispose(); throw; }
            }
        }
        catch (ArgumentException e) { throw Bad(weightName, e.Message); }
    }

    private static float[] ReadAbsmax(SafetensorsCheckpoint checkpoint, string weightName, BitsandbytesLayout.State state, long blocks,
        Func<string, string, LlamaFormatException> bad)
    {
        string name = weightName + BitsandbytesLayout.Absmax;
        var entry = Require(checkpoint, name, bad);
        if (entry.Elements != blocks)
            throw bad(name, $"expected {blocks} absmax values (one per {Nf4Matrix.BlockSize} weights of the flattened [{state.Rows}, {state.Cols}], the last block possibly short), got {entry.Elements}");
        if (entry.DTypeName == "F32") return Floats(checkpoint, name, blocks, bad);
        if (entry.DTypeName != "U8") throw bad(name, $"absmax must be F32, or U8 with double quantization; got {entry.DTypeName}");

        // Double quantization: absmax_b = map[code_b]·scale_g + offset, g = b / 256.
        int group = state.NestedBlockSize ?? Nf4Weight.AbsmaxGroupSize;
        if (group <= 0) throw bad(weightName + BitsandbytesLayout.QuantState, $"nested_blocksize must be positive, got {group}");
        float offset = state.NestedOffset ?? throw bad(weightName + BitsandbytesLayout.QuantState, "U8 absmax but no nested_offset");
        var scales = Floats(checkpoint, weightName + BitsandbytesLayout.NestedAbsmax, (blocks + group - 1) / group, bad);
        var map = Floats(checkpoint, weightName + BitsandbytesLayout.NestedQuantMap, 256, bad);
        var codes = checkpoint.FileOf(name).RawBytes(name);
        var absmax = new float[blocks];
        for (int b = 0; b < absmax.Length; b++) absmax[b] = map[codes[b]] * scales[b / group] + offset;
        return absmax;
    }

    private static SafetensorsEntry Require(SafetensorsCheckpoint checkpoint, string name, Func<string, string, LlamaFormatException> bad) =>
        checkpoint.Contains(name) ? checkpoint[name] : throw bad(name, "is missing from the quantized checkpoint");

    private static float[] Floats(SafetensorsCheckpoint checkpoint, string name, long count, Func<string, string, LlamaFormatException> bad)
    {
        var e = Require(checkpoint, name, bad);
        if (e.DTypeName != "F32" || e.Elements != count) throw bad(name, $"expected F32 with {count} elements, got {e.DTypeName}[{string.Join(", ", e.Shape)}]");
        return MemoryMarshal.Cast<byte, float>(checkpoint.FileOf(name).RawBytes(name)).ToArray();
    }
}
