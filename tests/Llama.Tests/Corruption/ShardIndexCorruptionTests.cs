using System.Text;
using System.Text.Json.Nodes;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Tests.Corruption;

/// <summary>
/// Corruptions of a sharded checkpoint: the index that maps tensors to shard files, and the shards themselves.
/// Each must fail with a one-line <see cref="LlamaFormatException"/> naming the index (or the shard) and the tensor.
/// </summary>
public sealed class ShardIndexCorruptionTests(TinyLlamaFolder model) : IClassFixture<TinyLlamaFolder>
{
    /// <summary>Corrupts a copy of the sharded folder in place; returns the file the message must name and what else it must say.</summary>
    public delegate (string File, string[] Mentions) Corruption(string folder);

    private static string IndexOf(string folder) => Path.Combine(folder, ModelFolder.WeightsIndex);

    private static Corruption IndexText(Func<string, string> edit, params string[] mentions) => folder =>
    {
        var index = IndexOf(folder);
        File.WriteAllText(index, edit(File.ReadAllText(index)));
        return (index, mentions);
    };

    private static Corruption WeightMap(Func<JsonObject, string> edit, params string[] mentions) => folder =>
    {
        var index = IndexOf(folder);
        var root = (JsonObject)JsonNode.Parse(File.ReadAllText(index))!;
        string named = edit((JsonObject)root["weight_map"]!);
        File.WriteAllText(index, root.ToJsonString());
        return (index, [named, .. mentions]);
    };

    private static string FirstName(JsonObject map) => map.First().Key;
    private static string LastName(JsonObject map) => map.Last().Key;

    public static readonly IReadOnlyDictionary<string, Corruption> Cases = new Dictionary<string, Corruption>
    {
        ["index_empty"] = IndexText(_ => "", "not valid JSON"),
        ["index_truncated_after_a_quarter"] = IndexText(t => t[..(t.Length / 4)], "not valid JSON"),
        ["index_truncated_after_half"] = IndexText(t => t[..(t.Length / 2)], "not valid JSON"),
        ["index_missing_its_closing_brace"] = IndexText(t => t.TrimEnd()[..^1], "not valid JSON"),
        ["index_is_an_array"] = IndexText(_ => "[]", "expected a JSON object"),
        ["index_is_a_string"] = IndexText(_ => "\"model-00001-of-00004.safetensors\"", "expected a JSON object"),
        ["index_is_not_utf8"] = folder => { File.WriteAllBytes(IndexOf(folder), [(byte)'{', 0xC3, 0x28, (byte)'}']); return (IndexOf(folder), ["UTF-8"]); },
        ["weight_map_missing"] = IndexText(_ => "{\"metadata\": {}}", "weight_map"),
        ["weight_map_is_an_array"] = IndexText(_ => "{\"weight_map\": []}", "weight_map"),
        ["weight_map_is_empty"] = IndexText(_ => "{\"weight_map\": {}}", "weight_map is empty"),
        ["weight_map_names_a_tensor_twice"] = IndexText(t => t.Replace("\"weight_map\": {", "\"weight_map\": {\"lm_head.weight\": \"model-00001-of-00004.safetensors\","), "not valid JSON", "lm_head.weight"),
        ["weight_map_value_is_a_number"] = WeightMap(m => { var n = FirstName(m); m[n] = 1; return n; }, "not a file name"),
        ["weight_map_value_climbs_out_of_the_folder"] = WeightMap(m => { var n = FirstName(m); m[n] = "../model.safetensors"; return n; }, "not a file name in the folder"),
        ["weight_map_value_is_an_absolute_path"] = WeightMap(m => { var n = LastName(m); m[n] = "/etc/passwd"; return n; }, "not a file name in the folder"),
        ["weight_map_points_at_a_missing_shard"] = WeightMap(m => { var n = FirstName(m); m[n] = "model-00009-of-00009.safetensors"; return n; }, "model-00009-of-00009.safetensors", "missing"),
        ["weight_map_points_at_the_wrong_shard"] = WeightMap(m =>
        {
            var n = FirstName(m);
            m[n] = m.Select(p => (string)p.Value!).First(f => f != (string)m[n]!);
            return n;
        }, "that shard has no such tensor"),
        ["weight_map_names_a_tensor_no_shard_has"] = WeightMap(m => { m["model.layers.9.mlp.gate_proj.weight"] = (string)m[FirstName(m)]!; return "model.layers.9.mlp.gate_proj.weight"; }, "no such tensor"),
        ["weight_map_lacks_a_tensor_the_model_needs"] = folder =>
        {
            var index = IndexOf(folder);
            var root = (JsonObject)JsonNode.Parse(File.ReadAllText(index))!;
            ((JsonObject)root["weight_map"]!).Remove("model.norm.weight");
            File.WriteAllText(index, root.ToJsonString());
            return (folder, ["model.norm.weight", "no tensor"]);
        },
        ["a_shard_deleted"] = folder =>
        {
            var shard = Directory.GetFiles(folder, "model-*.safetensors").Order().Last();
            File.Delete(shard);
            return (IndexOf(folder), [Path.GetFileName(shard), "missing"]);
        },
        ["a_shard_truncated"] = folder =>
        {
            var shard = Directory.GetFiles(folder, "model-*.safetensors").Order().First();
            var bytes = File.ReadAllBytes(shard);
            File.WriteAllBytes(shard, bytes[..(bytes.Length - 100)]);
            return (shard, ["truncated"]);
        },
        ["a_shard_replaced_by_text"] = folder =>
        {
            var shard = Directory.GetFiles(folder, "model-*.safetensors").Order().Skip(1).First();
            File.WriteAllText(shard, "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 123\n");   // an un-pulled Git LFS pointer
            return (shard, ["implausible"]);
        },
        ["a_shard_replaced_by_a_folder"] = folder =>
        {
            var shard = Directory.GetFiles(folder, "model-*.safetensors").Order().First();
            File.Delete(shard);
            Directory.CreateDirectory(shard);
            return (IndexOf(folder), [Path.GetFileName(shard), "missing"]);
        },
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Corrupt_sharded_checkpoints_fail_with_one_line_naming_the_index_or_shard(string name)
    {
        using var folder = new TempFolder("loram-corrupt-shards");
        foreach (var f in Directory.GetFiles(model.Sharded)) File.Copy(f, folder.File(Path.GetFileName(f)));
        Assert.True(Directory.GetFiles(folder.Path, "model-*.safetensors").Length >= 3, "the fixture must be sharded");
        var (file, mentions) = Cases[name](folder.Path);
        using var cpu = new CpuBackend(1);
        Rejection.Expect<LlamaFormatException>(() => LlamaWeights.Load(folder.Path, cpu).Dispose(), [file, .. mentions]);
    }

    [Fact]
    public void Opening_a_missing_folder_or_a_file_as_a_checkpoint_names_it()
    {
        using var dir = new TempFolder();
        var missing = dir.File("nope");
        Rejection.Expect<LlamaFormatException>(() => SafetensorsCheckpoint.Open(missing).Dispose(), missing, "folder not found");
        File.WriteAllText(dir.File("plain"), "x");
        Rejection.Expect<LlamaFormatException>(() => SafetensorsCheckpoint.Open(dir.File("plain")).Dispose(), dir.File("plain"), "is a file");
        Rejection.Expect<LlamaFormatException>(() => SafetensorsFile.Open(dir.Path).Dispose(), dir.Path, "is a folder");
    }
}
