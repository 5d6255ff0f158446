using System.Text;
using System.Text.Json.Nodes;
using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Llama.Tests.Corruption;

/// <summary>
/// Generated corruptions of the three tokenizer files (tokenizer.json byte-level BPE, loram_tokenizer.json,
/// tokenizer.model SentencePiece) and tokenizers that do not fit the model's vocab_size. Each must fail with a
/// one-line <see cref="LlamaFormatException"/> naming the file and the field.
/// </summary>
public sealed class TokenizerCorruptionTests
{
    /// <summary>The tiny BPE has ids 0..301 (300 and 301 are its special tokens); this config has a row for each.</summary>
    private static readonly LlamaConfig BpeConfig = TinyLlama.Config(new TinyLlamaOptions { Vocab = 302 }) with { BosTokenId = 300, EosTokenIds = [301] };
    private static readonly LlamaConfig ByteConfig = TinyLlama.Config(new TinyLlamaOptions());

    private static string ValidBpe()
    {
        using var dir = new TempFolder();
        TokenizerTests.WriteTinyBpe(dir.Path);
        return File.ReadAllText(dir.File("tokenizer.json"));
    }

    private static readonly string Bpe = ValidBpe();

    /// <summary>A corruption: the tokenizer file's name, its corrupt bytes, the config it is checked against, and what the
    /// message must mention besides the file's path.</summary>
    public sealed record Case(string File, byte[] Bytes, LlamaConfig Config, string[] Mentions);

    private static Func<Case> BpeText(string text, params string[] mentions) => () => new("tokenizer.json", Encoding.UTF8.GetBytes(text), BpeConfig, mentions);

    private static Func<Case> BpeEdit(Action<JsonObject> edit, params string[] mentions) => () =>
    {
        var o = (JsonObject)JsonNode.Parse(Bpe)!;
        edit(o);
        return new("tokenizer.json", Encoding.UTF8.GetBytes(o.ToJsonString()), BpeConfig, mentions);
    };

    private static JsonObject Model(JsonObject o) => (JsonObject)o["model"]!;

    private static Func<Case> ByteText(string text, params string[] mentions) => () => new(ByteTokenizer.FileName, Encoding.UTF8.GetBytes(text), ByteConfig, mentions);

    public static readonly IReadOnlyDictionary<string, Func<Case>> Cases = Build();

    private static Dictionary<string, Func<Case>> Build()
    {
        var c = new Dictionary<string, Func<Case>>
        {
            ["bpe_empty"] = BpeText("", "not valid JSON"),
            ["bpe_root_an_array"] = BpeText("[]", "JSON object"),
            ["bpe_root_a_string"] = BpeText("\"BPE\"", "JSON object"),
            ["bpe_not_utf8"] = () => new("tokenizer.json", [(byte)'{', 0xF0, 0x28, 0x8C, 0x28, (byte)'}'], BpeConfig, ["UTF-8"]),
            ["bpe_vocab_token_given_twice"] = BpeText(Bpe.Replace("\"vocab\":{", "\"vocab\":{\"h\":5,"), "not valid JSON", "'h'"),
            ["bpe_model_missing"] = BpeEdit(o => o.Remove("model"), "'model'"),
            ["bpe_model_a_string"] = BpeEdit(o => o["model"] = "BPE", "'model'"),
            ["bpe_model_type_missing"] = BpeEdit(o => Model(o).Remove("type"), "model.type"),
            ["bpe_model_type_a_number"] = BpeEdit(o => Model(o)["type"] = 1, "model.type"),
            ["bpe_model_type_wordpiece"] = BpeEdit(o => Model(o)["type"] = "WordPiece", "model.type", "WordPiece"),
            ["bpe_vocab_missing"] = BpeEdit(o => Model(o).Remove("vocab"), "model.vocab"),
            ["bpe_vocab_an_array"] = BpeEdit(o => Model(o)["vocab"] = new JsonArray("a", "b"), "model.vocab"),
            ["bpe_vocab_id_a_string"] = BpeEdit(o => ((JsonObject)Model(o)["vocab"]!)["hello"] = "7", "model.vocab['hello']"),
            ["bpe_vocab_id_negative"] = BpeEdit(o => ((JsonObject)Model(o)["vocab"]!)["hello"] = -7, "model.vocab['hello']"),
            ["bpe_vocab_id_fractional"] = BpeEdit(o => ((JsonObject)Model(o)["vocab"]!)["hello"] = 7.5, "model.vocab['hello']"),
            ["bpe_merges_an_object"] = BpeEdit(o => Model(o)["merges"] = new JsonObject(), "model.merges"),
            ["bpe_merge_a_number"] = BpeEdit(o => ((JsonArray)Model(o)["merges"]!).Add(5), "model.merges[9]"),
            ["bpe_merge_of_three_parts"] = BpeEdit(o => ((JsonArray)Model(o)["merges"]!).Add(new JsonArray("a", "b", "c")), "model.merges[9]"),
            ["bpe_added_tokens_an_object"] = BpeEdit(o => o["added_tokens"] = new JsonObject(), "added_tokens"),
            ["bpe_added_token_without_id"] = BpeEdit(o => ((JsonObject)o["added_tokens"]![0]!).Remove("id"), "added_tokens[0]"),
            ["bpe_added_token_id_a_string"] = BpeEdit(o => o["added_tokens"]![1]!["id"] = "301", "added_tokens[1]"),
            ["bpe_added_token_content_a_number"] = BpeEdit(o => o["added_tokens"]![0]!["content"] = 1, "added_tokens[0]"),
            ["bpe_split_pattern_not_a_regex"] = BpeEdit(o => o["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = "(unclosed", "regular expression"),
            ["bpe_pretokenizers_not_an_array"] = BpeEdit(o => o["pre_tokenizer"]!["pretokenizers"] = "Split", "malformed"),
            ["bpe_more_tokens_than_the_embedding_has_rows"] = () => new("tokenizer.json", Encoding.UTF8.GetBytes(Bpe),
                BpeConfig with { VocabSize = 290, BosTokenId = null, EosTokenIds = [] }, ["302 tokens", "vocab_size is 290"]),
            ["byte_empty"] = ByteText("", "not valid JSON"),
            ["byte_truncated"] = ByteText("{\"type\": \"by", "not valid JSON"),
            ["byte_root_an_array"] = ByteText("[\"byte\"]", "JSON object"),
            ["byte_type_missing"] = ByteText("{}", "'type'", "missing"),
            ["byte_type_a_number"] = ByteText("{\"type\": 8}", "'type'", "8"),
            ["byte_type_unknown"] = ByteText("{\"type\": \"utf16\"}", "'type'", "utf16"),
            ["byte_type_given_twice"] = ByteText("{\"type\": \"byte\", \"type\": \"bpe\"}", "not valid JSON"),
            ["byte_not_utf8"] = () => new(ByteTokenizer.FileName, [(byte)'{', 0xFF, (byte)'}'], ByteConfig, ["UTF-8"]),
            ["byte_more_tokens_than_the_embedding_has_rows"] = () => new(ByteTokenizer.FileName, "{\"type\": \"byte\"}"u8.ToArray(),
                ByteConfig with { VocabSize = 200, BosTokenId = null, EosTokenIds = [] }, ["259 tokens", "vocab_size is 200"]),
            ["sentencepiece_more_pieces_than_the_embedding_has_rows"] = () => new("tokenizer.model", SentencePieceTests.TinyModel(out _),
                ByteConfig with { VocabSize = 10, BosTokenId = null, EosTokenIds = [] }, ["vocab_size is 10"]),
            ["sentencepiece_random_bytes"] = () => { var b = new byte[256]; new Random(5).NextBytes(b); return new("tokenizer.model", b, ByteConfig, ["SentencePiece"]); },
        };
        for (int k = 1; k <= 10; k++)
        {
            int cut = Bpe.Length * k / 11;
            c[$"bpe_truncated_at_{k}_elevenths"] = BpeText(Bpe[..cut], "not valid JSON");
        }
        return c;
    }

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Corrupt_tokenizer_fails_with_one_line_naming_the_file_and_the_field(string name)
    {
        var (file, bytes, config, mentions) = Cases[name]();
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File(file), bytes);
        Rejection.Expect<LlamaFormatException>(() => Tokenizers.Load(dir.Path, config), [dir.File(file), .. mentions]);
    }

    /// <summary>A protobuf cut between two top-level fields (pieces, specs) is still a (smaller) model that may load;
    /// a cut inside a field must be refused, in one line naming the file.</summary>
    public static TheoryData<int> SentencePieceCuts => new(Enumerable.Range(0, 12));

    [Theory]
    [MemberData(nameof(SentencePieceCuts))]
    public void Truncated_sentencepiece_model_loads_or_fails_with_one_line_naming_the_file(int k)
    {
        var model = SentencePieceTests.TinyModel(out _);
        using var dir = new TempFolder();
        int cut = model.Length * k / 12;
        File.WriteAllBytes(dir.File("tokenizer.model"), model[..cut]);
        if (FieldBoundaries(model).Contains(cut)) Rejection.AcceptOrReject<LlamaFormatException>(() => Tokenizers.Load(dir.Path, ByteConfig), dir.File("tokenizer.model"));
        else Rejection.Expect<LlamaFormatException>(() => Tokenizers.Load(dir.Path, ByteConfig), dir.File("tokenizer.model"));
    }

    [Fact]
    public void Most_sentencepiece_cuts_fall_inside_a_field_and_must_be_refused()
    {
        var model = SentencePieceTests.TinyModel(out _);
        var boundaries = FieldBoundaries(model);
        Assert.True(Enumerable.Range(0, 12).Count(k => !boundaries.Contains(model.Length * k / 12)) >= 8);
    }

    /// <summary>Offsets where a top-level protobuf field starts or the message ends (0 included).</summary>
    private static HashSet<int> FieldBoundaries(byte[] proto)
    {
        var at = new HashSet<int> { 0 };
        int i = 0;
        ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = proto[i++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
        }
        while (i < proto.Length)
        {
            ulong tag = Varint();
            switch (tag & 7)
            {
                case 0: Varint(); break;
                case 1: i += 8; break;
                case 2: { int n = (int)Varint(); i += n; break; }   // read the length before moving past it
                case 5: i += 4; break;
                default: throw new InvalidOperationException($"wire type {tag & 7} in the fixture");
            }
            at.Add(i);
        }
        return at;
    }

    [Fact]
    public void The_uncorrupted_tokenizers_load_against_their_configs()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("tokenizer.json"), Bpe);
        Assert.Equal(302, Tokenizers.Load(dir.Path, BpeConfig).VocabSize);
        File.WriteAllText(dir.File(ByteTokenizer.FileName), "{\"type\": \"byte\"}");
        Assert.IsType<ByteTokenizer>(Tokenizers.Load(dir.Path, ByteConfig));
    }

    [Fact]
    public void A_folder_without_a_tokenizer_is_named()
    {
        using var dir = new TempFolder();
        Rejection.Expect<LlamaFormatException>(() => Tokenizers.Load(dir.Path, ByteConfig), dir.Path, "no tokenizer found");
    }
}
