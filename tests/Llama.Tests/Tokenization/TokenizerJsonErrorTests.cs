using System.Diagnostics;
using System.Text.Json.Nodes;
using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Llama.Tests.Tokenization;

/// <summary>What tokenizer.json cannot be used as it is: an unsupported component is named in a one-line error, never
/// approximated; a pattern that backtracks catastrophically fails within a bounded time instead of hanging.</summary>
public class TokenizerJsonErrorTests
{
    private static string WithTiny(Action<JsonObject> edit, TempFolder dir)
    {
        TokenizerTests.WriteTinyBpe(dir.Path);
        var o = JsonNode.Parse(File.ReadAllText(dir.File("tokenizer.json")))!.AsObject();
        edit(o);
        File.WriteAllText(dir.File("tokenizer.json"), o.ToJsonString());
        return dir.File("tokenizer.json");
    }

    public static TheoryData<string, string, string> Unsupported => new()
    {
        { "normalizer", """{"type": "Precompiled", "precompiled_charsmap": "AAAA"}""", "Precompiled" },
        { "normalizer", """{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Nmt"}]}""", "normalizer.normalizers[1] type 'Nmt'" },
        { "pre_tokenizer", """{"type": "UnicodeScripts"}""", "UnicodeScripts" },
        { "post_processor", """{"type": "Mystery"}""", "post_processor type 'Mystery'" },
        { "decoder", """{"type": "WordPiece", "prefix": "##", "cleanup": true}""", "decoder type 'WordPiece'" },
        { "decoder", """{"type": "CTC"}""", "CTC" },
    };

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void An_unsupported_component_is_a_one_line_error_naming_it_and_the_file(string field, string component, string mention)
    {
        using var dir = new TempFolder();
        var path = WithTiny(o => o[field] = JsonNode.Parse(component), dir);
        Rejection.Expect<LlamaFormatException>(() => Tokenizers.Load(dir.Path), path, mention, "not supported");
    }

    [Fact]
    public void Bpe_dropout_is_refused_rather_than_sampled()
    {
        using var dir = new TempFolder();
        var path = WithTiny(o => o["model"]!["dropout"] = 0.1, dir);
        Rejection.Expect<LlamaFormatException>(() => Tokenizers.Load(dir.Path), path, "model.dropout");
    }

    [Fact]
    public void A_catastrophic_split_regex_fails_within_a_bounded_time_naming_the_file()
    {
        using var dir = new TempFolder();
        var path = WithTiny(o => o["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = "(a+)+$", dir);
        var t = Tokenizers.Load(dir.Path);
        Assert.Equal([300, 97, 98], t.Encode("ab"));   // harmless text still works
        var clock = Stopwatch.StartNew();
        var message = Rejection.Expect<LlamaFormatException>(() => t.Encode(new string('a', 40) + "!"), path, "pre_tokenizer.pretokenizers[0].pattern.Regex", "catastrophic");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:0.0} s: {message}");
    }

    [Fact]
    public void Oniguruma_possessive_quantifiers_and_atomic_groups_parse_and_mean_the_same()
    {
        using var dir = new TempFolder();
        // Possessive: "a++" never gives back an 'a', so "a++a" cannot match; the words are the three runs.
        WithTiny(o => o["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = @"(?i:'s|'t)|\p{L}++|(?>\s+)|[^\s\p{L}]?+\d*+", dir);
        var t = Tokenizers.Load(dir.Path);
        Assert.Equal("hello world's 42", t.Decode(t.Encode("hello world's 42")));
        Assert.Equal("(?>a*)(?>[x\\]]+)b(?>c?)", FileRegexTranslate("a*+[x\\]]++bc?+"));
    }

    private static string FileRegexTranslate(string p) => FileRegex.Translate(p);
}
