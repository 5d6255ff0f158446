using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace LoRAM.Llama.Tokenization;

/// <summary>Opens the tokenizer of a model folder, choosing by the files present:
/// <c>loram_tokenizer.json</c> (byte tokenizer), <c>tokenizer.json</c> (Hugging Face's pipeline, read by
/// <see cref="TokenizerJsonReader"/>: LLaMA-2/3, Mistral, Qwen, Gemma, GPT-2 style), <c>tokenizer.model</c>
/// (SentencePiece through Microsoft.ML.Tokenizers, used only when there is no tokenizer.json).</summary>
public static class Tokenizers
{
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
        if (File.Exists(json)) return LoadTokenizerJson(json, folder);
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

    /// <summary>A Hugging Face tokenizer.json (LLaMA-2/3, Qwen, Gemma, Mistral, GPT-2 style): its normalizer,
    /// pre-tokenizer, BPE model, added tokens, post-processor and decoder, giving Hugging Face's ids exactly.</summary>
    public static ITokenizer LoadTokenizerJson(string path, string? folder = null)
    {
        using var doc = ParseJson(path);
        folder ??= Path.GetDirectoryName(path)!;
        try
        {
            return TokenizerJsonReader.Read(doc.RootElement, path, byContent => SpecialIds(folder, byContent,
                ["<|begin_of_text|>", "<s>", "<bos>", "<|endoftext|>"], ["<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>", "<|im_end|>"], path));
        }
        // The JSON accessors throw these when a field has the wrong kind (a string where a number belongs, ...).
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
        {
            throw LlamaFormatException.In(path, $"malformed tokenizer.json ({e.Message})", e);
        }
    }

    /// <summary>The same as <see cref="LoadTokenizerJson"/> (the name from when only byte-level BPE was read).</summary>
    public static ITokenizer LoadBpe(string path, string? folder = null) => LoadTokenizerJson(path, folder);

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

    /// <summary>BOS/EOS from config.json when it states them, else tokenizer_config.json's bos_token/eos_token, else by
    /// well-known token names, else the fallbacks. Pad: tokenizer_config.json's pad_token when it names a token, else EOS.</summary>
    private static (int Bos, int Eos, int Pad) SpecialIds(string folder, IReadOnlyDictionary<string, int> special,
        string[] bosNames, string[] eosNames, string source, int? bosFallback = null, int? eosFallback = null)
    {
        int? bos = null, eos = null, pad = null;
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
        var tokenizerConfig = Path.Combine(folder, "tokenizer_config.json");
        if (File.Exists(tokenizerConfig))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(tokenizerConfig));
                int? Named(string field) => doc.RootElement.TryGetProperty(field, out var t) && (t.ValueKind == JsonValueKind.String ? t.GetString()
                    : t.ValueKind == JsonValueKind.Object && t.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null) is { } name
                    && special.TryGetValue(name, out int id) ? id : null;
                bos ??= Named("bos_token");
                eos ??= Named("eos_token");
                pad = Named("pad_token");
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or IOException) { }   // chat settings only; ids come from tokenizer.json
        }
        bos ??= bosNames.Where(special.ContainsKey).Select(n => (int?)special[n]).FirstOrDefault() ?? bosFallback;
        eos ??= eosNames.Where(special.ContainsKey).Select(n => (int?)special[n]).FirstOrDefault() ?? eosFallback;
        if (bos is null || eos is null)
            throw LlamaFormatException.In(source, "cannot tell the BOS/EOS token ids (no bos_token_id/eos_token_id in config.json, no bos_token/eos_token in tokenizer_config.json and no known special tokens)");
        return (bos.Value, eos.Value, pad ?? eos.Value);
    }
}
