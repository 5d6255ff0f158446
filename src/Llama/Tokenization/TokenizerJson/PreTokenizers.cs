using System.Globalization;
using System.Text;

namespace LoRAM.Llama.Tokenization;

/// <summary>A piece of text on its way to the model. <see cref="AtStart"/>: it begins where the original text began
/// (Hugging Face's <c>offsets_original().0 == 0</c>, which Metaspace's prepend_scheme "first" reads).</summary>
internal readonly record struct Piece(string Text, bool AtStart);

/// <summary>A tokenizer.json <c>pre_tokenizer</c>: splits a piece into words (and may rewrite them). Empty words are
/// dropped, as Hugging Face drops them.</summary>
internal interface IPreTokenizer
{
    void Split(Piece piece, List<Piece> output);
}

/// <summary>How a split treats the delimiters it finds (Hugging Face's <c>SplitDelimiterBehavior</c>).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

internal static class Splitting
{
    /// <summary>Splits <paramref name="piece"/> at <paramref name="matches"/> (sorted, non-overlapping) the way
    /// <c>NormalizedString::split</c> does: the text is cut into alternating non-match/match spans, then
    /// <paramref name="behavior"/> decides which spans are dropped or glued to a neighbour.</summary>
    public static void Apply(Piece piece, List<(int Start, int End)> matches, SplitBehavior behavior, bool invert, List<Piece> output)
    {
        string s = piece.Text;
        // Spans covering the text: (start, end, isMatch).
        var spans = new List<(int Start, int End, bool Match)>(matches.Count * 2 + 1);
        int prev = 0;
        foreach (var (a, b) in matches)
        {
            if (prev != a) spans.Add((prev, a, invert));
            spans.Add((a, b, !invert));
            prev = b;
        }
        if (prev != s.Length) spans.Add((prev, s.Length, invert));

        var kept = new List<(int Start, int End)>(spans.Count);
        bool previousMatch = false;
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var sp in spans) kept.Add((sp.Start, sp.End));
                break;
            case SplitBehavior.Removed:
                foreach (var sp in spans) if (!sp.Match) kept.Add((sp.Start, sp.End));
                break;
            case SplitBehavior.Contiguous:
                foreach (var sp in spans)
                {
                    if (sp.Match == previousMatch && kept.Count > 0) kept[^1] = (kept[^1].Start, sp.End);
                    else kept.Add((sp.Start, sp.End));
                    previousMatch = sp.Match;
                }
                break;
            case SplitBehavior.MergedWithPrevious:
                foreach (var sp in spans)
                {
                    if (sp.Match && !previousMatch && kept.Count > 0) kept[^1] = (kept[^1].Start, sp.End);
                    else kept.Add((sp.Start, sp.End));
                    previousMatch = sp.Match;
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (int i = spans.Count - 1; i >= 0; i--)
                {
                    var sp = spans[i];
                    if (sp.Match && !previousMatch && kept.Count > 0) kept[^1] = (sp.Start, kept[^1].End);
                    else kept.Add((sp.Start, sp.End));
                    previousMatch = sp.Match;
                }
                kept.Reverse();
                break;
        }
        foreach (var (a, b) in kept)
            if (b > a) output.Add(new Piece(a == 0 && b == s.Length ? s : s[a..b], piece.AtStart && a == 0));
    }

    /// <summary>Each character satisfying <paramref name="predicate"/> is one match (Hugging Face's char-predicate pattern).</summary>
    public static void CharMatches(string s, Func<Rune, bool> predicate, List<(int, int)> into)
    {
        for (int i = 0; i < s.Length;)
        {
            Rune.DecodeFromUtf16(s.AsSpan(i), out var r, out int n);
            if (predicate(r)) into.Add((i, i + n));
            i += n;
        }
    }

    public static bool IsWhitespace(Rune r) => Rune.IsWhiteSpace(r);

    /// <summary>Rust's <c>is_ascii_punctuation() || is_punctuation()</c>: ASCII symbols count, as do Unicode P* categories.</summary>
    public static bool IsPunctuation(Rune r) => r.Value < 128 ? r.Value is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~'
        : Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;

    /// <summary>Rust's <c>char::is_numeric</c>: categories Nd, Nl, No.</summary>
    public static bool IsNumeric(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
}

internal sealed class SequencePreTokenizer(IPreTokenizer[] steps) : IPreTokenizer
{
    public void Split(Piece piece, List<Piece> output)
    {
        var current = new List<Piece> { piece };
        var next = new List<Piece>();
        foreach (var step in steps)
        {
            next.Clear();
            foreach (var p in current) step.Split(p, next);
            (current, next) = (next, current);
        }
        output.AddRange(current);
    }
}

/// <summary>Split on a regex or a literal string, with a delimiter behaviour and optional inversion.</summary>
internal sealed class SplitPreTokenizer(string? literal, FileRegex? regex, SplitBehavior behavior, bool invert) : IPreTokenizer
{
    [ThreadStatic] private static List<(int, int)>? t_matches;

    public void Split(Piece piece, List<Piece> output)
    {
        var matches = t_matches ??= new();
        matches.Clear();
        if (regex is not null) regex.Matches(piece.Text, matches);
        else if (literal!.Length > 0)
            for (int i = piece.Text.IndexOf(literal, StringComparison.Ordinal); i >= 0; i = piece.Text.IndexOf(literal, i + literal.Length, StringComparison.Ordinal))
                matches.Add((i, i + literal.Length));
        Splitting.Apply(piece, matches, behavior, invert, output);
    }
}

/// <summary>Split where each character satisfying a predicate is a delimiter (Digits, Punctuation, WhitespaceSplit, BERT).</summary>
internal sealed class CharSplitPreTokenizer(Func<Rune, bool> isDelimiter, SplitBehavior behavior) : IPreTokenizer
{
    public void Split(Piece piece, List<Piece> output)
    {
        var matches = new List<(int, int)>();
        Splitting.CharMatches(piece.Text, isDelimiter, matches);
        Splitting.Apply(piece, matches, behavior, invert: false, output);
    }
}

/// <summary>GPT-2's byte-level step: optionally a space before each piece, optionally the GPT-2 word regex, then each
/// piece's UTF-8 bytes written in <see cref="ByteLevelAlphabet"/>.</summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, FileRegex? gpt2Regex) : IPreTokenizer
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public void Split(Piece piece, List<Piece> output)
    {
        if (addPrefixSpace && !piece.Text.StartsWith(' ')) piece = piece with { Text = " " + piece.Text };
        if (gpt2Regex is null) { output.Add(piece with { Text = ByteLevelAlphabet.Encode(piece.Text) }); return; }
        var matches = new List<(int, int)>();
        gpt2Regex.Matches(piece.Text, matches);
        var words = new List<Piece>();
        Splitting.Apply(piece, matches, SplitBehavior.Isolated, invert: false, words);
        foreach (var w in words) output.Add(w with { Text = ByteLevelAlphabet.Encode(w.Text) });
    }
}

/// <summary>SentencePiece's whitespace handling: spaces become <c>replacement</c> ('▁'), one is prepended per
/// prepend_scheme (always / first piece of the text / never), and with <c>split</c> each '▁' starts a new word.</summary>
internal sealed class MetaspacePreTokenizer(char replacement, string prependScheme, bool split) : IPreTokenizer
{
    public void Split(Piece piece, List<Piece> output)
    {
        string s = piece.Text.Replace(' ', replacement);
        if (!s.StartsWith(replacement) && (prependScheme == "always" || prependScheme == "first" && piece.AtStart)) s = replacement + s;
        piece = piece with { Text = s };
        if (!split) { output.Add(piece); return; }
        var matches = new List<(int, int)>();
        for (int i = s.IndexOf(replacement); i >= 0; i = s.IndexOf(replacement, i + 1)) matches.Add((i, i + 1));
        Splitting.Apply(piece, matches, SplitBehavior.MergedWithNext, invert: false, output);
    }
}

/// <summary>Hugging Face's Whitespace pre-tokenizer: the words are the matches of <c>\w+|[^\w\s]+</c>.</summary>
internal sealed class WhitespacePreTokenizer(FileRegex words) : IPreTokenizer
{
    public const string Pattern = @"\w+|[^\w\s]+";

    public void Split(Piece piece, List<Piece> output)
    {
        var matches = new List<(int, int)>();
        words.Matches(piece.Text, matches);
        Splitting.Apply(piece, matches, SplitBehavior.Removed, invert: true, output);
    }
}
