using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Llama.Tests.Tokenization;

/// <summary>The fixtures of fixtures/README.md: real tokenizer.json files, variants of them, the text suite, and the ids
/// and decoded text Hugging Face's tokenizers library gives for each text.</summary>
public static class ReferenceTokenizers
{
    public static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Tokenization", "fixtures");

    public static readonly string[] Names =
    [
        "llama2", "llama3_1", "qwen3", "gemma3",
        "llama2-metaspace-first", "llama2-metaspace-always-split", "llama2-nfd-lowercase-punct", "llama2-nfkd-unk-unfused",
        "llama3_1-gpt2-style", "qwen3-split-behaviours", "qwen3-removed-whitespace", "qwen3-whitespacesplit-digits",
    ];

    public static readonly Lazy<string[]> Texts = new(() => JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(Folder, "texts.json")))!);

    public sealed record Case(int[] With, int[] Without, string Decoded);

    public sealed record Expected(string Tokenizer, JsonObject? Variant, Case[] Cases);

    public static Expected Load(string name)
    {
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, $"{name}.expected.json")))!.AsObject();
        int[] Ids(JsonNode? a) => a!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        var cases = o["cases"]!.AsArray().Select(c => new Case(Ids(c!["with"]), Ids(c["without"]), c["decoded"]!.GetValue<string>())).ToArray();
        return new Expected(o["tokenizer"]!.GetValue<string>(), o["variant"] as JsonObject, cases);
    }

    public static string Gunzip(string file)
    {
        using var gz = new GZipStream(File.OpenRead(Path.Combine(Folder, file)), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        return reader.ReadToEnd();
    }

    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"loram-tokenizer-fixtures-{Environment.ProcessId}");
    private static readonly ConcurrentDictionary<string, Lazy<string>> Folders = new();

    /// <summary>A folder holding <paramref name="name"/>'s tokenizer.json and tokenizer_config.json (a variant: the
    /// base file with the fixture's components swapped in), written once per test run.</summary>
    public static string FolderOf(string name) => Folders.GetOrAdd(name, n => new Lazy<string>(() =>
    {
        var expected = Load(n);
        var dir = Path.Combine(Root, n);
        Directory.CreateDirectory(dir);
        string json = Gunzip($"{expected.Tokenizer}.tokenizer.json.gz");
        if (expected.Variant is { } v)
        {
            var root = JsonNode.Parse(json)!.AsObject();
            foreach (var (k, value) in v["set"]!.AsObject()) root[k] = value?.DeepClone();
            foreach (var (k, value) in v["model"]!.AsObject()) root["model"]![k] = value?.DeepClone();
            foreach (var a in v["added"]!.AsArray()) root["added_tokens"]!.AsArray().Add(a!.DeepClone());
            json = root.ToJsonString();
        }
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), Gunzip($"{expected.Tokenizer}.tokenizer_config.json.gz"));
        return dir;
    })).Value;

    private static readonly ConcurrentDictionary<string, Lazy<ITokenizer>> Loaded = new();

    public static ITokenizer Tokenizer(string name) => Loaded.GetOrAdd(name, n => new Lazy<ITokenizer>(() => Tokenizers.Load(FolderOf(n)))).Value;
}
