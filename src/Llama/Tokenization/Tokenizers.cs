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
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var type = doc.RootElement.TryGetProperty("type", out var t) ? t.GetString() : null;
            return type == "byte" ? new ByteTokenizer() : throw LlamaFormatException.In(path, $"field 'type' is '{type ?? "(missing)"}'; only \"byte\" is known");
        }
        catch (JsonException e) { throw LlamaFormatException.In(path, $"not valid JSON ({e.Message})", e); }
    }

    /// <summary>A Hugging Face tokenizer.json whose model is byte-level BPE (LLaMA-3, SmolLM, GPT-2 style).</summary>
    public static ITokenizer LoadBpe(string path, string? folder = null)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw LlamaFormatException.In(path, $"not valid JSON ({e.Message})", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw LlamaFormatException.In(path, "missing object field 'model'");
            var type = model.TryGetProperty("type", out var mt) ? mt.GetString() : null;
            if (type != "BPE") throw LlamaFormatException.In(path, $"field 'model.type' is '{type}'; only \"BPE\" is supported");
            if (!model.TryGetProperty("vocab", out var vocabEl) || vocabEl.ValueKind != JsonValueKind.Object)
                throw LlamaFormatException.In(path, "missing object field 'model.vocab'");
            var vocab = vocabEl.EnumerateObject().Select(p => new KeyValuePair<string, int>(p.Name, p.Value.GetInt32())).ToList();
            var merges = new List<string>();
            if (model.TryGetProperty("merges", out var m))
                foreach (var e in m.EnumerateArray())
                    merges.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : string.Join(' ', e.EnumerateArray().Select(x => x.GetString())));
            var special = new Dictionary<string, int>(StringComparer.Ordinal);
            if (root.TryGetProperty("added_tokens", out var added))
                foreach (var a in added.EnumerateArray()) special[a.GetProperty("content").GetString()!] = a.GetProperty("id").GetInt32();
            string raw = root.GetRawText();
            bool byteLevel = raw.Contains("\"ByteLevel\"", StringComparison.Ordinal);
            string pattern = FindSplitPattern(root) ?? Llama3Pattern;

            var options = new BpeOptions(vocab)
            {
                Merges = merges,
                SpecialTokens = special,
                PreTokenizer = new RegexPreTokenizer(new Regex(pattern, RegexOptions.Compiled), special),
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
            catch (JsonException) { }   // config.json errors are reported by LlamaConfig.Load
        }
        bos ??= bosNames.Where(special.ContainsKey).Select(n => (int?)special[n]).FirstOrDefault() ?? bosFallback;
        eos ??= eosNames.Where(special.ContainsKey).Select(n => (int?)special[n]).FirstOrDefault() ?? eosFallback;
        if (bos is null || eos is null)
            throw LlamaFormatException.In(source, "cannot tell the BOS/EOS token ids (no bos_token_id/eos_token_id in config.json and no known special tokens)");
        return (bos.Value, eos.Value, eos.Value);
    }
}
