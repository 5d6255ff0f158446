using System.Text;

namespace LoRAM.Llama.Tokenization;

/// <summary>
/// The Hugging Face <c>tokenizers</c> pipeline a tokenizer.json describes, step for step:
/// added tokens are cut out of the raw text → each remaining piece is normalized → added tokens with normalized=true
/// are cut out of that → the pre-tokenizer splits it into words → the BPE model turns each word into ids → the
/// post-processor adds the special tokens (when asked). Decoding maps ids to token strings, drops special tokens and
/// runs the decoder chain. Read by <see cref="TokenizerJsonReader"/>.
/// </summary>
internal sealed class HuggingFaceTokenizer : ITokenizer
{
    public required int VocabSize { get; init; }
    public required int BosId { get; init; }
    public required int EosId { get; init; }
    public required int PadId { get; init; }

    public required AddedTokenMatcher RawAddedTokens { get; init; }
    public required AddedTokenMatcher NormalizedAddedTokens { get; init; }
    public required INormalizer? Normalizer { get; init; }
    public required IPreTokenizer? PreTokenizer { get; init; }
    public required BpeModel Model { get; init; }
    public required IPostProcessor? PostProcessor { get; init; }
    public required IDecoder? Decoder { get; init; }
    /// <summary>Token string of each id (added tokens over the vocabulary), null where none.</summary>
    public required string?[] IdToToken { get; init; }
    /// <summary>Ids of the added tokens marked special: dropped by <see cref="Decode"/>.</summary>
    public required HashSet<int> SpecialIds { get; init; }

    /// <summary>With <paramref name="addBos"/>, what transformers' <c>tokenizer(text)["input_ids"]</c> gives (the
    /// post-processor's special tokens); without, the same as <c>add_special_tokens=False</c>.</summary>
    public int[] Encode(string text, bool addBos = true)
    {
        var ids = new List<int>();
        if (HasLoneSurrogate(text)) text = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));   // as the UTF-8 the Rust library sees
        var raw = new List<(Piece Text, AddedToken? Token)>();
        RawAddedTokens.Split(new Piece(text, true), raw);
        var normalizedPieces = new List<(Piece Text, AddedToken? Token)>();
        var words = new List<Piece>();
        foreach (var (piece, token) in raw)
        {
            if (token is not null) { ids.Add(token.Id); continue; }
            var normalized = Normalizer is null ? piece : piece with { Text = Normalizer.Normalize(piece.Text) };
            normalizedPieces.Clear();
            NormalizedAddedTokens.Split(normalized, normalizedPieces);
            foreach (var (p, t) in normalizedPieces)
            {
                if (t is not null) { ids.Add(t.Id); continue; }
                words.Clear();
                if (PreTokenizer is null) words.Add(p);
                else PreTokenizer.Split(p, words);
                foreach (var w in words) Model.Tokenize(w.Text, ids);
            }
        }
        if (addBos && PostProcessor is not null) ids = PostProcessor.AddSpecialTokens(ids);
        return ids.ToArray();
    }

    /// <summary>Hugging Face's <c>decode(ids, skip_special_tokens=True)</c>: ids with no token are skipped too.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var tokens = new List<string>();
        foreach (var id in ids)
            if (id >= 0 && id < IdToToken.Length && IdToToken[id] is { } t && !SpecialIds.Contains(id)) tokens.Add(t);
        return Decoder is null ? string.Join(' ', tokens) : string.Concat(Decoder.DecodeChain(tokens));
    }

    public string? TokenOf(int id) => id >= 0 && id < IdToToken.Length ? IdToToken[id] : null;

    private static bool HasLoneSurrogate(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i])) { if (i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; } return true; }
            if (char.IsLowSurrogate(s[i])) return true;
        }
        return false;
    }
}
