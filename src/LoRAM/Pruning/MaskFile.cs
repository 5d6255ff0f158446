using LoRAM.Llama;
using LoRAM.Llama.Safetensors;

namespace LoRAM.Pruning;

/// <summary>
/// <c>masks.safetensors</c>: the mask M of every non-structurally pruned weight, under the weight's own name
/// (e.g. <c>model.layers.0.self_attn.q_proj.weight</c>), bit-packed by rows: a U8 tensor [rows, ⌈cols/8⌉]
/// where bit (j mod 8) of byte j/8 of row r, least significant first, is 1 when W[r, j] is kept; padding bits are
/// 0. The header's <c>__metadata__</c> holds <c>format = loram-masks/1</c> and, per tensor, its weight shape
/// "rows,cols". 1/8 byte per weight: 1/16 of a BF16 model.
/// </summary>
public static class MaskFile
{
    public const string FileName = "masks.safetensors";
    public const string Format = "loram-masks/1";

    public static void Save(string path, IEnumerable<(string Name, SparsityPattern Mask)> masks)
    {
        var writer = new SafetensorsWriter();
        writer.Metadata["format"] = Format;
        writer.Metadata["packing"] = "rows; bit j%8 of byte j/8, LSB first; 1 = kept";
        foreach (var (name, mask) in masks)
        {
            writer.Metadata[name] = $"{mask.Rows},{mask.Cols}";
            writer.Add(name, "U8", [mask.Rows, BytesPerRow(mask.Cols)], Pack(mask));
        }
        writer.Save(path);
    }

    private static int BytesPerRow(int cols) => (cols + 7) / 8;

    internal static byte[] Pack(SparsityPattern mask)
    {
        int stride = BytesPerRow(mask.Cols);
        var bytes = new byte[(long)mask.Rows * stride];
        var kept = mask.Kept;
        for (int r = 0; r < mask.Rows; r++)
            for (int j = 0; j < mask.Cols; j++)
                if (kept[r * mask.Cols + j]) bytes[(long)r * stride + (j >> 3)] |= (byte)(1 << (j & 7));
        return bytes;
    }

    /// <summary>Reads every mask of the file; shapes come from the metadata and must agree with the tensors.</summary>
    /// <exception cref="UserInputException">A malformed file, naming it and the tensor.</exception>
    public static Dictionary<string, SparsityPattern> Load(string path)
    {
        SafetensorsFile file;
        try { file = SafetensorsFile.Open(path); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        using (file)
        {
            if (!file.Metadata.TryGetValue("format", out var format) || format != Format)
                throw new UserInputException($"{path}: metadata format is '{format ?? "(missing)"}', expected '{Format}'");
            var masks = new Dictionary<string, SparsityPattern>(StringComparer.Ordinal);
            foreach (var e in file.Entries)
            {
                if (!file.Metadata.TryGetValue(e.Name, out var shapeText) || shapeText.Split(',') is not [var a, var b]
                    || !int.TryParse(a, out int rows) || !int.TryParse(b, out int cols) || rows <= 0 || cols <= 0)
                    throw new UserInputException($"{path}: tensor '{e.Name}' has no \"rows,cols\" shape in the metadata");
                int stride = BytesPerRow(cols);
                if (e.DTypeName != "U8" || !e.Shape.SequenceEqual([rows, stride]))
                    throw new UserInputException($"{path}: tensor '{e.Name}' is {e.DTypeName}[{string.Join(", ", e.Shape)}], a {rows}×{cols} mask is U8[{rows}, {stride}]");
                var bytes = file.RawBytes(e.Name);
                var kept = new bool[(long)rows * cols];
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < cols; j++)
                        kept[(long)r * cols + j] = (bytes[r * stride + (j >> 3)] >> (j & 7) & 1) != 0;
                masks[e.Name] = new SparsityPattern(rows, cols, kept);
            }
            return masks;
        }
    }
}
