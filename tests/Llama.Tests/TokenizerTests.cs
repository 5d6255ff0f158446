using System.Text;
using System.Text.Json;
using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Llama.Tests;

/// <summary>Byte tokenizer, byte-level BPE from a tokenizer.json the test writes, folder detection and streaming decode.
/// The real tokenizer.json files are checked against Hugging Face in Tokenization/TokenizerJsonReferenceTests.</summary>
public class TokenizerTests
{
    private const string Text = "hello world, héllo 🙂 wörld!\nhello";

    [Fact]
    public void Byte_tokenizer_round_trips_utf8_and_adds_bos()
    {
        var t = new ByteTokenizer();
        var ids = t.Encode(Text);
        Assert.Equal(256, ids[0]);
        Assert.Equal(Encoding.UTF8.GetBytes(Text).Select(b => (int)b), ids[1..]);
        Assert.Equal(Text, t.Decode(ids.Append(257).Append(258)));
        Assert.Equal((259, 256, 257, 258), (t.VocabSize, t.BosId, t.EosId, t.PadId));
    }

    [Fact]
    public void Streaming_decoder_holds_back_partial_utf8_characters()
    {
        ITokenizer t = new ByteTokenizer();
        var stream = t.CreateStreamingDecoder();
        var pieces = t.Encode("a🙂b", addBos: false).Select(stream.Push).ToList();
        // 🙂 is 4 bytes: nothing is printed until its last byte arrives, and never a replacement character.
        Assert.Equal(["a", "", "", "", "🙂", "b"], pieces);
        Assert.Equal("", stream.Flush());
    }

    /// <summary>GPT-2's byte → printable character map used by byte-level BPE.</summary>
    private static char[] ByteLevelAlphabet()
    {
        var map = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + extra++);
        }
        return map;
    }

    /// <summary>A tiny LLaMA-3-style tokenizer.json: 256 byte tokens, a few merges, and two special tokens.</summary>
    internal static void WriteTinyBpe(string folder)
    {
        var alphabet = ByteLevelAlphabet();
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[alphabet[b].ToString()] = b;
        string[] merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"];
        foreach (var m in merges) vocab[m.Replace(" ", "")] = vocab.Count;
        var json = new
        {
            version = "1.0",
            added_tokens = new[]
            {
                new { id = 300, content = "<|begin_of_text|>", special = true },
                new { id = 301, content = "<|end_of_text|>", special = true },
            },
            pre_tokenizer = new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new { type = "Split", pattern = new { Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+" }, behavior = "Isolated", invert = false },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = false },
                },
            },
            // As LLaMA-3's file: BOS comes from the post-processor, so Encode(addBos: true) gives <|begin_of_text|> first.
            post_processor = new
            {
                type = "TemplateProcessing",
                single = new object[] { new { SpecialToken = new { id = "<|begin_of_text|>", type_id = 0 } }, new { Sequence = new { id = "A", type_id = 0 } } },
                pair = Array.Empty<object>(),
                special_tokens = new Dictionary<string, object> { ["<|begin_of_text|>"] = new { id = "<|begin_of_text|>", ids = new[] { 300 }, tokens = new[] { "<|begin_of_text|>" } } },
            },
            decoder = new { type = "ByteLevel" },
            model = new { type = "BPE", vocab, merges },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), JsonSerializer.Serialize(json));
    }

    [Fact]
    public void Byte_level_bpe_applies_merges_and_round_trips_any_text()
    {
        using var dir = new TempFolder();
        WriteTinyBpe(dir.Path);
        var t = Tokenizers.Load(dir.Path);
        Assert.Equal(300, t.BosId);
        Assert.Equal(301, t.EosId);
        Assert.Equal(302, t.VocabSize);
        // "hello" and " world" each merge to one token (ids 259 and 264 by construction).
        var ids = t.Encode("hello world", addBos: true);
        Assert.Equal([300, 259, 264], ids);
        Assert.Equal("hello world", t.Decode(ids.Append(301)));
        var all = t.Encode(Text, addBos: false);
        Assert.Equal(Text, t.Decode(all));
        // Streaming reproduces the text exactly, one token at a time.
        var stream = t.CreateStreamingDecoder();
        Assert.Equal(Text, string.Concat(all.Select(stream.Push)) + stream.Flush());
    }

    [Fact]
    public void Config_json_special_ids_win_over_token_names()
    {
        using var dir = new TempFolder();
        WriteTinyBpe(dir.Path);
        File.WriteAllText(Path.Combine(dir.Path, "config.json"), """{"bos_token_id": 301, "eos_token_id": [300, 301]}""");
        var t = Tokenizers.Load(dir.Path);
        Assert.Equal(301, t.BosId);
        Assert.Equal(300, t.EosId);
    }

    [Fact]
    public void Folder_choice_follows_the_files_present_with_clear_errors()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<LlamaFormatException>(() => Tokenizers.Load(dir.Path));
        Assert.Contains("tokenizer.json", e.Message);
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 1 });
        Assert.IsType<ByteTokenizer>(Tokenizers.Load(dir.Path));
        File.WriteAllText(Path.Combine(dir.Path, "loram_tokenizer.json"), """{"type": "wordpiece"}""");
        e = Assert.Throws<LlamaFormatException>(() => Tokenizers.Load(dir.Path));
        Assert.Contains("wordpiece", e.Message);
        File.Delete(Path.Combine(dir.Path, "loram_tokenizer.json"));
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer.json"), """{"model": {"type": "Unigram", "vocab": []}}""");
        e = Assert.Throws<LlamaFormatException>(() => Tokenizers.Load(dir.Path));
        Assert.Contains("model.type", e.Message);
        File.Delete(Path.Combine(dir.Path, "tokenizer.json"));
        File.WriteAllBytes(Path.Combine(dir.Path, "tokenizer.model"), [1, 2, 3, 4]);
        e = Assert.Throws<LlamaFormatException>(() => Tokenizers.Load(dir.Path));
        Assert.Contains("tokenizer.model", e.Message);
    }
}
