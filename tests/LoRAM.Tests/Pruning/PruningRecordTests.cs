using LoRAM.Llama.Tests.Support;
using System.Text.Json.Nodes;
using LoRAM.Llama;
using LoRAM.Pruning;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Pruning;

/// <summary>The pruning record: round trips, the index maps recovery uses, and one-line errors naming file, layer and problem.</summary>
public class PruningRecordTests
{
    /// <summary>A 3-layer GQA model (4 query heads in 2 groups, D = 8, 48 channels) with layer 1 pruned to group 1 and 24 channels.</summary>
    private static (PruningRecord Record, LlamaConfig Pruned) Structured()
    {
        var config = TinyLlama.Config(new TinyLlamaOptions { Layers = 3, Heads = 4, KvHeads = 2, Hidden = 32, Intermediate = 48 });
        var layers = StructuredSelection.Select(config, 0.5, 1, 1, null, seed: 7);
        var pruned = StructuredCounts.PrunedConfig(config, 0.5, 1, 1);
        var record = new PruningRecord
        {
            Method = PruningMethod.Rand, Ratio = 0.5, KeepFirst = 1, KeepLast = 1, Seed = 7, Importance = "random",
            Calibration = new PruningRecord.CalibrationInfo("embedded corpus (seed 1)", 10, 128),
            HiddenSize = 32, NumHiddenLayers = 3, HeadDim = 8, VocabSize = config.VocabSize,
            OriginalParameters = config.ParameterCount(), PrunedParameters = pruned.ParameterCount(), Layers = layers,
        };
        return (record, pruned);
    }

    private static string Mutate(PruningRecord record, Action<JsonObject> change)
    {
        var json = record.ToJson();
        change(json);
        return json.ToJsonString();
    }

    [Fact]
    public void Save_and_load_round_trip_every_field()
    {
        using var dir = new TempFolder();
        var (record, pruned) = Structured();
        record.Save(dir.Path);
        var loaded = PruningRecord.Load(dir.Path);
        Assert.Equal(record.ToJson().ToJsonString(), loaded.ToJson().ToJsonString());
        loaded.ValidateAgainst(pruned);
        Assert.Equal(record.Calibration, loaded.Calibration);
    }

    [Fact]
    public void Kept_rows_and_columns_map_pruned_positions_to_original_ones()
    {
        var (record, _) = Structured();
        var l = record.Layers[1];
        int g = l.KeptKvHeads!.Single();
        Assert.Equal([2 * g, 2 * g + 1], l.KeptHeads!);                          // the group's two query heads
        Assert.Equal(Enumerable.Range(16 * g, 16), record.KeptRows(1, Projection.Find("q_proj")!));   // 2 heads × D = 8
        Assert.Equal(Enumerable.Range(8 * g, 8), record.KeptRows(1, Projection.Find("k_proj")!));
        Assert.Equal(record.KeptRows(1, Projection.Find("q_proj")!), record.KeptColumns(1, Projection.Find("o_proj")!));
        Assert.Equal(l.KeptChannels!, record.KeptRows(1, Projection.Find("up_proj")!));
        Assert.Equal(l.KeptChannels!, record.KeptColumns(1, Projection.Find("down_proj")!));
        Assert.Equal(Enumerable.Range(0, 32), record.KeptRows(1, Projection.Find("down_proj")!));
        Assert.Equal(Enumerable.Range(0, 32), record.KeptRows(0, Projection.Find("q_proj")!));        // unpruned layer: everything
    }

    public static TheoryData<string, string> BadRecords => new()
    {
        { "kept_heads_mismatch", "are not the query heads of kept_kv_heads" },
        { "out_of_range", "layer 1: kept_channels[0] = 99 is outside 0..47" },
        { "unsorted", "layer 1: kept_channels must be strictly ascending" },
        { "layer_count", "2 layer entries but original.num_hidden_layers is 3" },
        { "bad_format", "field 'format' is 'loram-pruning/0', expected 'loram-pruning/1'" },
        { "missing_channels", "layer 2: a structured record needs kept_kv_heads, kept_heads and kept_channels" },
        { "not_json", "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(BadRecords))]
    public void Malformed_records_fail_in_one_line_naming_the_file_the_layer_and_the_problem(string bug, string expected)
    {
        using var dir = new TempFolder();
        var (record, _) = Structured();
        int otherGroup = 1 - record.Layers[1].KeptKvHeads!.Single();
        string json = bug switch
        {
            "kept_heads_mismatch" => Mutate(record, j => j["layers"]![1]!["kept_heads"] = new JsonArray(2 * otherGroup, 2 * otherGroup + 1)),
            "out_of_range" => Mutate(record, j => j["layers"]![1]!["kept_channels"]![0] = 99),
            "unsorted" => Mutate(record, j => { var a = j["layers"]![1]!["kept_channels"]!.AsArray(); (a[0], a[1]) = (a[1]!.DeepClone(), a[0]!.DeepClone()); }),
            "layer_count" => Mutate(record, j => j["layers"]!.AsArray().RemoveAt(2)),
            "bad_format" => Mutate(record, j => j["format"] = "loram-pruning/0"),
            "missing_channels" => Mutate(record, j => j["layers"]![2]!.AsObject().Remove("kept_channels")),
            _ => "{ not json",
        };
        var path = Path.Combine(dir.Path, PruningRecord.FileName);
        File.WriteAllText(path, json);
        var e = Assert.Throws<UserInputException>(() => PruningRecord.Load(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(expected, e.Message);
        if (bug != "layer_count" && bug != "bad_format" && bug != "not_json") Assert.Contains("layer ", e.Message);
    }

    [Fact]
    public void A_record_that_does_not_match_the_model_names_the_layer_and_both_sizes()
    {
        using var dir = new TempFolder();
        var (record, pruned) = Structured();
        var wrong = pruned with { LayerIntermediate = [48, 20, 48] };
        var e = Assert.Throws<UserInputException>(() => record.ValidateAgainst(wrong, "x/loram_pruning.json"));
        Assert.Equal("x/loram_pruning.json: layer 1: record keeps 2 heads / 1 kv heads / 24 channels but the model has 2 / 1 / 20", e.Message);
        var e2 = Assert.Throws<UserInputException>(() => record.ValidateAgainst(pruned with { HiddenSize = 64, HeadDim = 8 }, "r.json"));
        Assert.Contains("hidden_size 32 but the model's config has 64", e2.Message);
        var e3 = Assert.Throws<UserInputException>(() => PruningRecord.LoadFor(dir.Path));
        Assert.Contains("no loram_pruning.json", e3.Message);
    }
}
