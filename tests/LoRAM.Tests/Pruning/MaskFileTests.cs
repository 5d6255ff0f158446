using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Safetensors;
using LoRAM.Pruning;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Pruning;

public class MaskFileTests
{
    private static SparsityPattern Random(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        return new SparsityPattern(rows, cols, Enumerable.Range(0, rows * cols).Select(_ => rng.Next(2) == 0).ToArray());
    }

    [Fact]
    public void Masks_round_trip_bit_exactly_at_an_eighth_of_a_byte_per_weight_including_ragged_rows()
    {
        using var dir = new TempFolder();
        var path = dir.File(MaskFile.FileName);
        var masks = new Dictionary<string, SparsityPattern>
        {
            ["model.layers.0.self_attn.q_proj.weight"] = Random(16, 32, 1),
            ["model.layers.0.mlp.down_proj.weight"] = Random(5, 13, 2),   // 13 columns: 2 bytes a row, 3 padding bits
        };
        MaskFile.Save(path, masks.Select(kv => (kv.Key, kv.Value)));
        var loaded = MaskFile.Load(path);
        Assert.Equal(masks.Keys.Order(), loaded.Keys.Order());
        foreach (var (name, mask) in masks)
        {
            Assert.Equal((mask.Rows, mask.Cols), (loaded[name].Rows, loaded[name].Cols));
            Assert.Equal(mask.Kept.ToArray(), loaded[name].Kept.ToArray());
        }
        using var file = SafetensorsFile.Open(path);
        Assert.Equal([16, 4], file["model.layers.0.self_attn.q_proj.weight"].Shape);
        Assert.Equal([5, 2], file["model.layers.0.mlp.down_proj.weight"].Shape);
        // LSB first: bit j of row 0 is kept[0, j].
        var row0 = file.RawBytes("model.layers.0.self_attn.q_proj.weight")[0];
        for (int j = 0; j < 8; j++) Assert.Equal(masks["model.layers.0.self_attn.q_proj.weight"].IsKept(0, j), (row0 >> j & 1) == 1);
    }

    [Fact]
    public void A_mask_file_without_shapes_is_rejected_naming_the_tensor()
    {
        using var dir = new TempFolder();
        var path = dir.File(MaskFile.FileName);
        var writer = new SafetensorsWriter();
        writer.Metadata["format"] = MaskFile.Format;
        writer.Add("w", "U8", [2, 1], new byte[2]);
        writer.Save(path);
        var e = Assert.Throws<UserInputException>(() => MaskFile.Load(path));
        Assert.Equal($"{path}: tensor 'w' has no \"rows,cols\" shape in the metadata", e.Message);
    }
}
