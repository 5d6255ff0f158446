using System.Text;
using System.Text.RegularExpressions;

namespace LoRAM.Llama.Tokenization;

/// <summary>
/// A regular expression read from a tokenizer file. Hugging Face runs these with Oniguruma; .NET's engine agrees on the
/// patterns real files use (<c>\p{L}</c>, <c>(?i:'s|…)</c>, lookahead, atomic groups) once Oniguruma's possessive
/// quantifiers (<c>x*+</c>, <c>x++</c>, <c>x?+</c>) are written as the atomic groups they mean. Every match runs under a
/// time limit: a pattern that backtracks catastrophically on some text becomes a one-line error naming the file, never
/// a hang.
/// </summary>
internal sealed class FileRegex
{
    /// <summary>Longest one match may take; real tokenizer patterns need microseconds.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    private readonly Regex _regex;
    private readonly string _source, _what;
    private readonly bool _bmpOnlyPattern;

    /// <param name="source">The file, for messages.</param>
    /// <param name="what">Where in the file the pattern sits (<c>pre_tokenizer.pretokenizers[0].pattern.Regex</c>).</param>
    public FileRegex(string pattern, string source, string what)
    {
        _source = source;
        _what = what;
        _bmpOnlyPattern = !HasSurrogates(pattern);
        try { _regex = new Regex(Translate(pattern), RegexOptions.Compiled | RegexOptions.CultureInvariant, MatchTimeout); }
        catch (ArgumentException e) { throw LlamaFormatException.In(source, $"{what} is not a valid regular expression ({e.Message})", e); }
    }

    /// <summary>The non-overlapping matches, left to right, as Oniguruma reports them: an empty match right where the
    /// previous match ended is skipped. Characters outside the BMP are matched as one character of their category (see
    /// <see cref="Shadow"/>).</summary>
    public void Matches(string text, List<(int Start, int End)> into)
    {
        int[]? map = null;
        string subject = _bmpOnlyPattern && HasSurrogates(text) ? Shadow(text, out map) : text;
        int lastEnd = -1;
        try
        {
            foreach (var m in _regex.EnumerateMatches(subject))
            {
                if (m.Length == 0 && m.Index == lastEnd) continue;
                lastEnd = m.Index + m.Length;
                into.Add(map is null ? (m.Index, lastEnd) : (map[m.Index], map[lastEnd]));
            }
        }
        catch (RegexMatchTimeoutException e) { throw Timeout(text, e); }
    }

    /// <summary>Every match replaced by <paramref name="replacement"/>, taken literally (as Hugging Face does).</summary>
    public string Replace(string text, string replacement)
    {
        var matches = new List<(int Start, int End)>();
        Matches(text, matches);
        if (matches.Count == 0) return text;
        var sb = new StringBuilder(text.Length);
        int prev = 0;
        foreach (var (a, b) in matches) { sb.Append(text, prev, a - prev).Append(replacement); prev = b; }
        return sb.Append(text, prev, text.Length - prev).ToString();
    }

    private static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;

    /// <summary>.NET matches UTF-16 code units, so <c>\p{L}</c> does not match "𝔘" (two surrogates), where Oniguruma
    /// matches it as one letter. The regex therefore runs over a shadow of the text in which each supplementary
    /// character is one BMP character of the same general category; <paramref name="map"/> takes shadow offsets back.</summary>
    private static string Shadow(string text, out int[] map)
    {
        var sb = new StringBuilder(text.Length);
        var m = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length;)
        {
            m.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append(Representative[(int)Rune.GetUnicodeCategory(new Rune(text[i], text[i + 1]))]);
                i += 2;
            }
            else sb.Append(text[i++]);
        }
        m.Add(text.Length);
        map = m.ToArray();
        return sb.ToString();
    }

    /// <summary>A BMP character of each <see cref="System.Globalization.UnicodeCategory"/>, none of them ASCII (so no
    /// literal in a pattern matches it by accident).</summary>
    private static readonly char[] Representative =
    [
        'À', 'à', 'ǅ', 'ʰ', 'ª', '\u0300', '\u0903', '\u20DD', '٠', 'Ⅰ', '²', '\u2000', '\u2028', '\u2029', '\u0080', '\u00AD',
        '\uFFFD', '\uE000', '‿', '‐', '⁅', '⁆', '«', '»', '¡', '¬', '¢', '˂', '¦', '\uFFFF',
    ];

    private LlamaFormatException Timeout(string text, Exception e) => LlamaFormatException.In(_source,
        $"{_what} took over {MatchTimeout.TotalSeconds:0} s to match a {text.Length}-character piece of text (catastrophic backtracking); the pattern cannot be used", e);

    /// <summary>Oniguruma's word class: letters, all marks (.NET's <c>\w</c> leaves out spacing marks, Mc), digits, connectors.</summary>
    public const string WordClass = @"\p{L}\p{M}\p{Nd}\p{Pc}";

    /// <summary>An Oniguruma pattern in .NET syntax: possessive quantifiers (<c>a*+ a++ a?+ a{n,m}+</c>) become atomic
    /// groups (<c>(?>a*)</c>), and <c>\w</c>/<c>\W</c> Oniguruma's Unicode word class.</summary>
    internal static string Translate(string pattern)
    {
        if (!pattern.Contains('+') && !pattern.Contains("\\w", StringComparison.OrdinalIgnoreCase)) return pattern;
        var o = new StringBuilder();
        var atomStarts = new Stack<int>();   // start (in o) of each open group
        int lastAtom = -1;                  // start (in o) of the last complete atom
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\')
            {
                lastAtom = o.Length;
                int end = i + 2;
                if (i + 1 < pattern.Length && pattern[i + 1] is 'p' or 'P' or 'x' or 'u' && i + 2 < pattern.Length && pattern[i + 2] == '{')
                    end = pattern.IndexOf('}', i) + 1;
                if (end <= i) end = pattern.Length;
                if (end == i + 2 && pattern[i + 1] == 'w') o.Append('[').Append(WordClass).Append(']');
                else if (end == i + 2 && pattern[i + 1] == 'W') o.Append("[^").Append(WordClass).Append(']');
                else o.Append(pattern, i, Math.Min(end, pattern.Length) - i);
                i = Math.Min(end, pattern.Length) - 1;
            }
            else if (c == '[')
            {
                lastAtom = o.Length;
                int j = i + 1, depth = 1;
                if (j < pattern.Length && pattern[j] == '^') j++;
                if (j < pattern.Length && pattern[j] == ']') j++;
                o.Append(pattern, i, j - i);
                for (; j < pattern.Length && depth > 0; j++)
                {
                    if (pattern[j] == '\\' && j + 1 < pattern.Length)
                    {
                        if (pattern[j + 1] == 'w') o.Append(WordClass); else o.Append(pattern, j, 2);
                        j++;
                        continue;
                    }
                    if (pattern[j] == '[') depth++;
                    else if (pattern[j] == ']') depth--;
                    o.Append(pattern[j]);
                }
                i = j - 1;
            }
            else if (c == '(') { atomStarts.Push(o.Length); o.Append(c); lastAtom = -1; }
            else if (c == ')') { lastAtom = atomStarts.Count > 0 ? atomStarts.Pop() : -1; o.Append(c); }
            else if (c is '*' or '+' or '?' or '{')
            {
                int q = i;
                if (c == '{') { int close = pattern.IndexOf('}', i); if (close < 0) { o.Append(c); lastAtom = o.Length - 1; continue; } i = close; }
                o.Append(pattern, q, i - q + 1);
                if (i + 1 < pattern.Length && pattern[i + 1] == '+' && lastAtom >= 0)
                {
                    o.Insert(lastAtom, "(?>").Append(')');
                    i++;
                }
                else if (i + 1 < pattern.Length && pattern[i + 1] == '?') { o.Append('?'); i++; }
                lastAtom = -1;
            }
            else { lastAtom = o.Length; o.Append(c); }
        }
        return o.ToString();
    }
}
