using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LoRAM.Llama.Tokenization;

/// <summary>Opens the tokenizer of a model folder, choosing by the files present:
/// <c>loram_tokenizer.json</c> (byte tokenizer), <c>tokenizer.json</c> (byte-level BPE, LLaMA-3),
/// <c>tokenizer.model</c> (SentencePiece, LLaMA-2).</summary>
public static class Tokenizers
{
    /// <summary>LLaMA-3's pre-tokenizer split, used when tokenizer.json names none.</summary>
    private const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The tokenizer of <paramref name="folder"/>, checked against the model's <paramref name="config"/>: every id
    /// it can produce (its vocabulary, BOS, EOS, pad) must have a row in the embedding of <c>vocab_size</c> rows. The
    /// embedding may be larger than the vocabulary (padded for speed), never smaller.</summary>
    public static ITokenizer Load(string folder, LlamaConfig config)
    {
        var tokenizer = Load(folder);
        var file = new[] { ByteTokenizer.FileName, "tokenizer.json", "tokenizer.model" }.Select(n => Path.Combine(folder, n)).First(File.Exists);
        if (tokenizer.VocabSize > config.VocabSize)
            throw LlamaFormatException.In(file, $"the tokenizer has {tokenizer.VocabSize} tokens but config.json's vocab_size is {config.VocabSize}: ids past {config.VocabSize - 1} have no embedding row");
        foreach (var (what, id) in new[] { ("BOS", tokenizer.BosId), ("EOS", tokenizer.EosId), ("pad", tokenizer.PadId) })
            if (id < 0 || id >= config.VocabSize)
                throw LlamaFormatException.In(file, $"{what} token id {id} is outside config.json's vocab_size {config.VocabSize}");
        return tokenizer;
    }

    public static ITokenizer Load(string folder)
    {
        var loram = Path.Combine(folder, ByteTokenizer.FileName);
        var json = Path.Combine(folder, "tokenizer.json");
        var spm = Path.Combine(folder, "tokenizer.model");
        if (File.Exists(loram)) return LoadLoram(loram);
        if (File.Exists(json)) return LoadBpe(json, folder);
        if (File.Exists(spm)) return LoadSentencePiece(spm, folder);
        throw new LlamaFormatException($"{folder}: no tokenizer found (expected {ByteTokenizer.FileName}, tokenizer.json or tokenizer.model)");
    }

    private static ITokenizer LoadLoram(string path)
    {
        using var doc = ParseJson(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw LlamaFormatException.In(path, "expected a JSON object");
        var type = doc.RootElement.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        return type == "byte" ? new ByteTokenizer() : throw LlamaFormatException.In(path, $"field 'type' is {(doc.RootElement.TryGetProperty("type", out var raw) ? raw.GetRawText() : "missing")}; only \"byte\" is known");
    }

    /// <summary>Reads and parses a JSON file; unreadable files and bad JSON (duplicate keys included) are format errors naming it.</summary>
    private static JsonDocument ParseJson(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw LlamaFormatException.In(path, $"cannot read ({e.Message})", e); }
        // JsonDocument checks UTF-8 only when a string is read, and then throws InvalidOperationException: check first.
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw LlamaFormatException.In(path, "not valid UTF-8 text");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw LlamaFormatException.In(path, $"not valid JSON ({e.Message})", e); }
        catch (InvalidOperationException e) { throw LlamaFormatException.In(path, JsonText.Describe(JsonText.InvalidPropertyName), e); }
        if (JsonText.FindInvalidString(doc.RootElement) is { } bad)
        {
            doc.Dispose();
            throw LlamaFormatException.In(path, JsonText.Describe(bad));
        }
        return doc;
    }

    /// <summary>A Hugging Face tokenizer.json whose model is byte-level BPE (LLaMA-3, SmolLM, GPT-2 style).</summary>
    public static ITokenizer LoadBpe(string path, string? folder = null)
    {
        using var doc = ParseJson(path);
        try { return LoadBpe(doc.RootElement, path, folder); }
        // The JSON accessors throw these when a field has the wrong kind (a string where a number belongs, ...).
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
        {
            throw LlamaFormatException.In(path, $"malformed tokenizer.json ({e.Message})", e);
        }
    }

    private static ITokenizer LoadBpe(JsonElement root, string path, string? folder)
    {
        if (root.ValueKind != JsonValueKind.Object) throw LlamaFormatException.In(path, "expected a JSON object");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw LlamaFormatException.In(path, "missing object field 'model'");
        var type = model.TryGetProperty("type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
        if (type != "BPE") throw LlamaFormatException.In(path, $"field 'model.type' is '{type}'; only \"BPE\" is supported");
        if (!model.TryGetProperty("vocab", out var vocabEl) || vocabEl.ValueKind != JsonValueKind.Object)
            throw LlamaFormatException.In(path, "missing object field 'model.vocab'");
        var vocab = new List<KeyValuePair<string, int>>();
        foreach (var p in vocabEl.EnumerateObject())
            vocab.Add(new(p.Name, p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out int id) && id >= 0
                ? id : throw LlamaFormatException.In(path, $"model.vocab['{p.Name}'] must be a non-negative integer id, got {p.Value.GetRawText()}")));
        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var m))
        {
            if (m.ValueKind != JsonValueKind.Array) throw LlamaFormatException.In(path, "field 'model.merges' must be an array");
            int i = 0;
            foreach (var e in m.EnumerateArray())
            {
                merges.Add(e.ValueKind == JsonValueKind.String ? e.GetString()!
                    : e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2 && e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String)
                        ? string.Join(' ', e.EnumerateArray().Select(x => x.GetString()))
                        : throw LlamaFormatException.In(path, $"model.merges[{i}] must be \"a b\" or [\"a\", \"b\"], got {e.GetRawText()}"));
                i++;
            }
        }
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var added))
        {
            if (added.ValueKind != JsonValueKind.Array) throw LlamaFormatException.In(path, "field 'added_tokens' must be an array");
            int i = 0;
            foreach (var a in added.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String
                    || !a.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int n) || n < 0)
                    throw LlamaFormatException.In(path, $"added_tokens[{i}] needs a string 'content' and a non-negative integer 'id', got {a.GetRawText()}");
                special[c.GetString()!] = n;
                i++;
            }
        }
        string raw = root.GetRawText();
        bool byteLevel = raw.Contains("\"ByteLevel\"", StringComparison.Ordinal);
        string pattern = FindSplitPattern(root) ?? Llama3Pattern;

        Regex split;
        try { split = new Regex(pattern, RegexOptions.Compiled); }
        catch (ArgumentException e) { throw LlamaFormatException.In(path, $"pre_tokenizer Split pattern is not a valid regular expression ({e.Message})", e); }
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            SpecialTokens = special,
            PreTokenizer = new RegexPreTokenizer(split, special),
            ByteLevel = byteLevel,
        };
        Tokenizer bpe;
        try { bpe = BpeTokenizer.Create(options); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw LlamaFormatException.In(path, $"cannot build the BPE tokenizer ({e.Message})", e);
        }
        int vocabSize = Math.Max(vocab.Count == 0 ? 0 : vocab.Max(v => v.Value), special.Count == 0 ? 0 : special.Values.Max()) + 1;
        var (bos, eos, pad) = SpecialIds(folder ?? Path.GetDirectoryName(path)!, special, ["<|begin_of_text|>", "<s>", "<|endoftext|>"], ["<|end_of_text|>", "</s>", "<|endoftext|>"], path);
        return new MlTokenizer(bpe, vocabSize, bos, eos, pad, special.Values.ToHashSet());
    }

    private static string? FindSplitPattern(JsonElement root)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object) return null;
        IEnumerable<JsonElement> steps = pre.TryGetProperty("pretokenizers", out var seq) ? seq.EnumerateArray() : [pre];
        foreach (var s in steps)
            if (s.TryGetProperty("type", out var t) && t.GetString() == "Split" && s.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var r))
                return r.GetString();
        return null;
    }

    /// <summary>A SentencePiece BPE tokenizer.model (LLaMA-2).</summary>
    public static ITokenizer LoadSentencePiece(string path, string? folder = null)
    {
        Tokenizer spm;
        try
        {
            using var s = File.OpenRead(path);
            spm = LlamaTokenizer.Create(s, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not LlamaFormatException and not OutOfMemoryException)
        {
            throw LlamaFormatException.In(path, $"cannot read the SentencePiece model ({e.Message})", e);
        }
        var llama = (SentencePieceTokenizer)spm;
        var (bos, eos, pad) = SpecialIds(folder ?? Path.GetDirectoryName(path)!, new Dictionary<string, int>(),
            [], [], path, llama.BeginningOfSentenceId, llama.EndOfSentenceId);
        return new MlTokenizer(spm, llama.Vocabulary.Count, bos, eos, pad, new HashSet<int> { bos, eos, pad, llama.UnknownId });
    }

    /// <summary>BOS/EOS from config.json when it states them, else by well-known token names, else the fallbacks.</summary>
    private static (int Bos, int Eos, int Pad) SpecialIds(string folder, IReadOnlyDictionary<string, int> special,
        string[] bosNames, string[] eosNames, string source, int? bosFallback = null, int? eosFallback = null)
    {
        int? bos = null, eos = null;
        var configPath = Path.Combine(folder, ModelFolder.Config);
        if (File.Exists(configPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
                if (doc.RootElement.TryGetProperty("bos_token_id", out var b) && b.ValueKind == JsonValueKind.Number) bos = b.GetInt32();
                if (doc.RootElement.TryGetProperty("eos_token_id", out var e))
                    eos = e.ValueKind == JsonValueKind.Number ? e.GetInt32() : e.ValueKind == JsonValueKind.Array && e.GetArrayLength() > 0 ? e[0].GetInt32() : null;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or IOException) { }   // config.json errors are reported by LlamaConfig.Load
        }
        bos ??= bosNames.Where(special.ContainsKey).Select(n => (int?)special[n]).FirstOrDefault() ?? bosFallback;
        eos ??= eosNames.Where(special.ContainsKey).Select(n => (int?)special[n]).FirstOrDefault() ?? eosFallback;
        if (bos is null || eos is null)
            throw LlamaFormatException.In(source, "cannot tell the BOS/EOS token ids (no bos_token_id/eos_token_id in config.json and no known special tokens)");
        return (bos.Value, eos.Value, eos.Value);
    }
}
