using System.Text;
using System.Text.Json;

namespace LoRAM.Llama.Tokenization;

/// <summary>
/// Reads a Hugging Face tokenizer.json into a <see cref="HuggingFaceTokenizer"/>. Every component the file names is
/// built faithfully or refused: a type LoRAM.NET does not implement is a one-line <see cref="LlamaFormatException"/>
/// naming it and the file, never a silent approximation.
/// </summary>
internal static class TokenizerJsonReader
{
    private static readonly string[] Normalizers = ["Sequence", "Prepend", "Replace", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip", "StripAccents", "BertNormalizer"];
    private static readonly string[] PreTokenizers = ["Sequence", "Split", "ByteLevel", "Metaspace", "Digits", "Whitespace", "WhitespaceSplit", "Punctuation", "BertPreTokenizer", "CharDelimiterSplit"];
    private static readonly string[] PostProcessors = ["TemplateProcessing", "ByteLevel", "Sequence", "BertProcessing", "RobertaProcessing"];
    private static readonly string[] Decoders = ["Sequence", "Replace", "ByteFallback", "Fuse", "Strip", "Metaspace", "ByteLevel", "BPEDecoder"];

    public static HuggingFaceTokenizer Read(JsonElement root, string path, Func<Dictionary<string, int>, (int Bos, int Eos, int Pad)> specialIds)
    {
        var r = new Reader(path);
        if (root.ValueKind != JsonValueKind.Object) throw r.Error("expected a JSON object");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object) throw r.Error("missing object field 'model'");
        var type = model.TryGetProperty("type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
        if (type != "BPE") throw r.Error($"field 'model.type' is '{type}'; only \"BPE\" is supported");
        if (!model.TryGetProperty("vocab", out var vocabEl) || vocabEl.ValueKind != JsonValueKind.Object) throw r.Error("missing object field 'model.vocab'");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabEl.EnumerateObject())
            vocab[p.Name] = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out int id) && id >= 0
                ? id : throw r.Error($"model.vocab['{p.Name}'] must be a non-negative integer id, got {p.Value.GetRawText()}");
        string? prefix = r.OptString(model, "continuing_subword_prefix", "model");
        var merges = ReadMerges(model, vocab, prefix, r);
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw r.Error($"model.dropout is {dropout.GetRawText()}: BPE dropout samples at random and is not supported (null or 0 encodes deterministically)");
        var bpe = new BpeModel(vocab, merges, r.OptString(model, "unk_token", "model"), prefix, r.OptString(model, "end_of_word_suffix", "model"),
            r.OptBool(model, "byte_fallback", false, "model"), r.OptBool(model, "fuse_unk", false, "model"), r.OptBool(model, "ignore_merges", false, "model"), path);

        var added = ReadAddedTokens(root, r);
        var normalizer = root.TryGetProperty("normalizer", out var n) && n.ValueKind != JsonValueKind.Null ? Normalizer(n, "normalizer", r) : null;
        var preTokenizer = root.TryGetProperty("pre_tokenizer", out var pt) && pt.ValueKind != JsonValueKind.Null ? PreTokenizer(pt, "pre_tokenizer", r) : null;
        var byContent = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        foreach (var a in added) byContent[a.Content] = a.Id;
        var postProcessor = root.TryGetProperty("post_processor", out var pp) && pp.ValueKind != JsonValueKind.Null ? PostProcessor(pp, "post_processor", byContent, r) : null;
        var decoder = root.TryGetProperty("decoder", out var d) && d.ValueKind != JsonValueKind.Null ? Decoder(d, "decoder", r) : null;

        int vocabSize = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max(), added.Count == 0 ? 0 : added.Max(a => a.Id)) + 1;
        var idToToken = new string?[vocabSize];
        foreach (var (token, id) in vocab) idToToken[id] = token;
        foreach (var a in added) idToToken[a.Id] = a.Content;
        // Special tokens first, then the others, as Hugging Face builds its tries; normalized tokens are matched by their
        // normalized content.
        var ordered = added.Where(a => a.Special).Concat(added.Where(a => !a.Special)).ToList();
        var (bos, eos, pad) = specialIds(byContent);
        return new HuggingFaceTokenizer
        {
            VocabSize = vocabSize, BosId = bos, EosId = eos, PadId = pad,
            RawAddedTokens = new AddedTokenMatcher(ordered.Where(a => !a.Normalized).Select(a => (a.Content, a))),
            NormalizedAddedTokens = new AddedTokenMatcher(ordered.Where(a => a.Normalized).Select(a => (normalizer?.Normalize(a.Content) ?? a.Content, a))),
            Normalizer = normalizer, PreTokenizer = preTokenizer, Model = bpe, PostProcessor = postProcessor, Decoder = decoder,
            IdToToken = idToToken, SpecialIds = added.Where(a => a.Special).Select(a => a.Id).ToHashSet(),
        };
    }

    private static Dictionary<long, long> ReadMerges(JsonElement model, Dictionary<string, int> vocab, string? prefix, Reader r)
    {
        var merges = new Dictionary<long, long>();
        if (!model.TryGetProperty("merges", out var m) || m.ValueKind == JsonValueKind.Null) return merges;
        if (m.ValueKind != JsonValueKind.Array) throw r.Error("field 'model.merges' must be an array");
        int rank = 0, prefixLength = prefix?.Length ?? 0;
        foreach (var e in m.EnumerateArray())
        {
            string? a = null, b = null;
            if (e.ValueKind == JsonValueKind.String)
            {
                var s = e.GetString()!;
                int space = s.IndexOf(' ');
                if (space >= 0) { a = s[..space]; b = s[(space + 1)..]; }
            }
            else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2 && e[0].ValueKind == JsonValueKind.String && e[1].ValueKind == JsonValueKind.String)
            { a = e[0].GetString(); b = e[1].GetString(); }
            if (a is null || b is null) throw r.Error($"model.merges[{rank}] must be \"a b\" or [\"a\", \"b\"], got {e.GetRawText()}");
            if (!vocab.TryGetValue(a, out int ia)) throw r.Error($"model.merges[{rank}] merges '{a}', which is not in model.vocab");
            if (!vocab.TryGetValue(b, out int ib)) throw r.Error($"model.merges[{rank}] merges '{b}', which is not in model.vocab");
            string merged = a + (prefixLength <= b.Length ? b[prefixLength..] : "");
            if (!vocab.TryGetValue(merged, out int im)) throw r.Error($"model.merges[{rank}] makes '{merged}', which is not in model.vocab");
            merges[BpeModel.PairKey(ia, ib)] = BpeModel.MergeEntry(rank, im);   // a repeated pair keeps its last rank, as in Hugging Face
            rank++;
        }
        return merges;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, Reader r)
    {
        var list = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null) return list;
        if (added.ValueKind != JsonValueKind.Array) throw r.Error("field 'added_tokens' must be an array");
        int i = 0;
        foreach (var a in added.EnumerateArray())
        {
            if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String
                || !a.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int n) || n < 0)
                throw r.Error($"added_tokens[{i}] needs a string 'content' and a non-negative integer 'id', got {a.GetRawText()}");
            string where = $"added_tokens[{i}]";
            bool special = r.OptBool(a, "special", false, where);
            list.Add(new AddedToken(n, c.GetString()!, special, r.OptBool(a, "single_word", false, where), r.OptBool(a, "lstrip", false, where),
                r.OptBool(a, "rstrip", false, where), r.OptBool(a, "normalized", !special, where)));
            i++;
        }
        return list;
    }

    private static INormalizer Normalizer(JsonElement e, string where, Reader r) => r.Type(e, where, Normalizers) switch
    {
        "Sequence" => new SequenceNormalizer(r.Array(e, "normalizers", where).Select((x, i) => Normalizer(x, $"{where}.normalizers[{i}]", r)).ToArray()),
        "Prepend" => new PrependNormalizer(r.String(e, "prepend", where)),
        "Replace" => Pattern(e, where, r) is var (lit, re) ? new ReplaceNormalizer(lit, re, r.String(e, "content", where)) : null!,
        "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
        "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
        "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
        "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
        "Lowercase" => new LowercaseNormalizer(),
        "Strip" => new StripNormalizer(r.OptBool(e, "strip_left", true, where), r.OptBool(e, "strip_right", true, where)),
        "StripAccents" => new StripAccentsNormalizer(),
        _ /* BertNormalizer */ => new BertNormalizer(r.OptBool(e, "clean_text", true, where), r.OptBool(e, "handle_chinese_chars", true, where),
            e.TryGetProperty("strip_accents", out var sa) && sa.ValueKind is JsonValueKind.True or JsonValueKind.False ? sa.GetBoolean() : null,
            r.OptBool(e, "lowercase", true, where)),
    };

    private static IPreTokenizer PreTokenizer(JsonElement e, string where, Reader r) => r.Type(e, where, PreTokenizers) switch
    {
        "Sequence" => new SequencePreTokenizer(r.Array(e, "pretokenizers", where).Select((x, i) => PreTokenizer(x, $"{where}.pretokenizers[{i}]", r)).ToArray()),
        "Split" => Pattern(e, where, r) is var (lit, re) ? new SplitPreTokenizer(lit, re, Behavior(e, where, null, r), r.OptBool(e, "invert", false, where)) : null!,
        "ByteLevel" => new ByteLevelPreTokenizer(r.OptBool(e, "add_prefix_space", true, where),
            r.OptBool(e, "use_regex", true, where) ? new FileRegex(ByteLevelPreTokenizer.Gpt2Pattern, r.Path, $"{where} (GPT-2 regex)") : null),
        "Metaspace" => new MetaspacePreTokenizer(Replacement(e, where, r), PrependScheme(e, where, r), r.OptBool(e, "split", true, where)),
        "Digits" => new CharSplitPreTokenizer(Splitting.IsNumeric, r.OptBool(e, "individual_digits", false, where) ? SplitBehavior.Isolated : SplitBehavior.Contiguous),
        "Whitespace" => new WhitespacePreTokenizer(new FileRegex(WhitespacePreTokenizer.Pattern, r.Path, where)),
        "WhitespaceSplit" => new CharSplitPreTokenizer(Splitting.IsWhitespace, SplitBehavior.Removed),
        "Punctuation" => new CharSplitPreTokenizer(Splitting.IsPunctuation, Behavior(e, where, SplitBehavior.Isolated, r)),
        "CharDelimiterSplit" => r.String(e, "delimiter", where) is { Length: > 0 } dl && dl.EnumerateRunes().Count() == 1
            ? new CharSplitPreTokenizer(rune => rune.ToString() == dl, SplitBehavior.Removed) : throw r.Error($"{where}.delimiter must be one character"),
        _ /* BertPreTokenizer */ => new SequencePreTokenizer([new CharSplitPreTokenizer(Splitting.IsWhitespace, SplitBehavior.Removed),
            new CharSplitPreTokenizer(Splitting.IsPunctuation, SplitBehavior.Isolated)]),
    };

    private static IPostProcessor PostProcessor(JsonElement e, string where, Dictionary<string, int> ids, Reader r)
    {
        switch (r.Type(e, where, PostProcessors))
        {
            case "Sequence":
                return new SequencePostProcessor(r.Array(e, "processors", where).Select((x, i) => PostProcessor(x, $"{where}.processors[{i}]", ids, r)).ToArray());
            case "ByteLevel":
                return new IdentityPostProcessor();
            case "BertProcessing" or "RobertaProcessing":
                return new ClsSepPostProcessor(TokenPair(e, "cls", where, r), TokenPair(e, "sep", where, r));
            default: // TemplateProcessing
                var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
                if (e.TryGetProperty("special_tokens", out var st) && st.ValueKind == JsonValueKind.Object)
                    foreach (var p in st.EnumerateObject())
                        specials[p.Name] = r.Array(p.Value, "ids", $"{where}.special_tokens['{p.Name}']").Select(x => x.GetInt32()).ToArray();
                var pieces = new List<int[]?>();
                int k = 0;
                foreach (var piece in r.Array(e, "single", where))
                {
                    string w = $"{where}.single[{k++}]";
                    if (piece.TryGetProperty("Sequence", out _)) pieces.Add(null);
                    else if (piece.TryGetProperty("SpecialToken", out var sp))
                    {
                        string name = r.String(sp, "id", w);
                        pieces.Add(specials.TryGetValue(name, out var sids) ? sids
                            : ids.TryGetValue(name, out int sid) ? [sid] : throw r.Error($"{w} names special token '{name}', which is neither in {where}.special_tokens nor in the vocabulary"));
                    }
                    else throw r.Error($"{w} must be a {{\"SpecialToken\": …}} or {{\"Sequence\": …}} piece, got {piece.GetRawText()}");
                }
                return new TemplatePostProcessor(pieces);
        }
    }

    private static IDecoder Decoder(JsonElement e, string where, Reader r) => r.Type(e, where, Decoders) switch
    {
        "Sequence" => new SequenceDecoder(r.Array(e, "decoders", where).Select((x, i) => Decoder(x, $"{where}.decoders[{i}]", r)).ToArray()),
        "Replace" => Pattern(e, where, r) is var (lit, re) ? new ReplaceDecoder(lit, re, r.String(e, "content", where)) : null!,
        "ByteFallback" => new ByteFallbackDecoder(),
        "Fuse" => new FuseDecoder(),
        "Strip" => new StripDecoder(r.String(e, "content", where), r.Int(e, "start", where), r.Int(e, "stop", where)),
        "Metaspace" => new MetaspaceDecoder(Replacement(e, where, r), PrependScheme(e, where, r) != "never"),
        "ByteLevel" => new ByteLevelDecoder(),
        _ /* BPEDecoder */ => new BpeSuffixDecoder(r.OptString(e, "suffix", where) ?? "</w>"),
    };

    /// <summary>A <c>pattern</c> field: <c>{"String": "…"}</c> (a literal) or <c>{"Regex": "…"}</c>.</summary>
    private static (string? Literal, FileRegex? Regex) Pattern(JsonElement e, string where, Reader r)
    {
        if (!e.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object) throw r.Error($"{where}.pattern must be {{\"String\": …}} or {{\"Regex\": …}}");
        if (p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String) return (s.GetString()!, null);
        if (p.TryGetProperty("Regex", out var re) && re.ValueKind == JsonValueKind.String) return (null, new FileRegex(re.GetString()!, r.Path, $"{where}.pattern.Regex"));
        throw r.Error($"{where}.pattern must be {{\"String\": …}} or {{\"Regex\": …}}, got {p.GetRawText()}");
    }

    private static SplitBehavior Behavior(JsonElement e, string where, SplitBehavior? fallback, Reader r)
    {
        var name = fallback is null ? r.String(e, "behavior", where) : r.OptString(e, "behavior", where);
        if (name is null) return fallback!.Value;
        return Enum.TryParse<SplitBehavior>(name, out var b) && Enum.IsDefined(b) && !char.IsDigit(name[0]) ? b
            : throw r.Error($"{where}.behavior '{name}' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
    }

    private static char Replacement(JsonElement e, string where, Reader r)
    {
        var s = r.OptString(e, "replacement", where) ?? "▁";
        return s.Length == 1 ? s[0] : throw r.Error($"{where}.replacement must be one character, got '{s}'");
    }

    /// <summary>"always", "first" or "never"; older files say add_prefix_space instead (true = always).</summary>
    private static string PrependScheme(JsonElement e, string where, Reader r)
    {
        var s = r.OptString(e, "prepend_scheme", where);
        if (s is null) return r.OptBool(e, "add_prefix_space", true, where) ? "always" : "never";
        return s is "always" or "first" or "never" ? s : throw r.Error($"{where}.prepend_scheme '{s}' is not one of always, first, never");
    }

    private static int TokenPair(JsonElement e, string name, string where, Reader r)
    {
        var a = r.Array(e, name, where).ToList();
        return a.Count == 2 && a[1].ValueKind == JsonValueKind.Number && a[1].TryGetInt32(out int id) ? id
            : throw r.Error($"{where}.{name} must be [\"token\", id]");
    }

    /// <summary>Field access that reports the file and the field on a wrong or missing value.</summary>
    private sealed class Reader(string path)
    {
        public string Path => path;

        public LlamaFormatException Error(string what) => LlamaFormatException.In(path, what);

        public string Type(JsonElement e, string where, string[] supported)
        {
            if (e.ValueKind != JsonValueKind.Object) throw Error($"{where} must be an object, got {e.GetRawText()}");
            var t = String(e, "type", where);
            return supported.Contains(t) ? t
                : throw Error($"{where} type '{t}' is not supported (LoRAM.NET implements {string.Join(", ", supported)})");
        }

        public string String(JsonElement e, string name, string where) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error($"{where}.{name} must be a string");

        public string? OptString(JsonElement e, string name, string where) =>
            !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
            : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error($"{where}.{name} must be a string or null, got {v.GetRawText()}");

        public bool OptBool(JsonElement e, string name, bool fallback, string where) =>
            !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? fallback
            : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Error($"{where}.{name} must be true or false, got {v.GetRawText()}");

        public int Int(JsonElement e, string name, string where) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) && i >= 0 ? i : throw Error($"{where}.{name} must be a non-negative integer");

        public IEnumerable<JsonElement> Array(JsonElement e, string name, string where) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().ToList() : throw Error($"{where}.{name} must be an array (malformed tokenizer.json)");
    }
}
