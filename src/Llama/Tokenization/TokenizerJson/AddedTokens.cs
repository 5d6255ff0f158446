using System.Globalization;
using System.Text;

namespace LoRAM.Llama.Tokenization;

/// <summary>One entry of tokenizer.json's <c>added_tokens</c>.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);

/// <summary>
/// Finds added tokens in text before the model sees it, as Hugging Face's <c>AddedVocabulary</c> does: tokens with
/// normalized=false are matched in the raw text, the others in each normalized piece (against their own normalized
/// content); at each position the leftmost, then longest, token wins. single_word tokens only match between non-word
/// characters; lstrip/rstrip tokens swallow the whitespace beside them. A matched token is one id, never split.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedToken? Token;
    }

    private readonly Node _root = new();
    public bool IsEmpty { get; }

    public AddedTokenMatcher(IEnumerable<(string Pattern, AddedToken Token)> tokens)
    {
        foreach (var (pattern, token) in tokens)
        {
            if (pattern.Length == 0) continue;
            var node = _root;
            foreach (char ch in pattern)
            {
                node.Children ??= new();
                if (!node.Children.TryGetValue(ch, out var child)) node.Children[ch] = child = new Node();
                node = child;
            }
            node.Token ??= token;   // the first token with a given pattern wins (special tokens are listed first)
            IsEmpty = false;
        }
        IsEmpty = _root.Children is null;
    }

    /// <summary>Appends the pieces of <paramref name="piece"/>: text pieces (<c>Token</c> null) and matched tokens.</summary>
    public void Split(Piece piece, List<(Piece Text, AddedToken? Token)> output)
    {
        string s = piece.Text;
        if (IsEmpty || s.Length == 0) { if (s.Length > 0) output.Add((piece, null)); return; }
        int startOffset = 0;
        for (int i = 0; i < s.Length;)
        {
            var (token, end) = LongestAt(s, i);
            if (token is null) { i++; continue; }
            int start = i, stop = end;
            i = end;   // the search resumes after this match whether or not it is kept
            if (token.SingleWord)
            {
                bool startSpace = start == 0 || !IsWordCharBefore(s, start);
                bool stopSpace = stop == s.Length || !IsWordCharAt(s, stop);
                if (!startSpace || !stopSpace) continue;
            }
            if (token.LStrip)
            {
                int newStart = start;
                while (newStart > 0 && char.IsWhiteSpace(s[newStart - 1])) newStart--;
                start = Math.Max(newStart, startOffset);
            }
            if (token.RStrip)
                while (stop < s.Length && char.IsWhiteSpace(s[stop])) stop++;
            if (startOffset < start) output.Add((new Piece(s[startOffset..start], piece.AtStart && startOffset == 0), null));
            output.Add((new Piece(s[start..stop], piece.AtStart && start == 0), token));
            startOffset = stop;
            i = Math.Max(i, stop);
        }
        if (startOffset < s.Length) output.Add((new Piece(startOffset == 0 ? s : s[startOffset..], piece.AtStart && startOffset == 0), null));
    }

    private (AddedToken? Token, int End) LongestAt(string s, int i)
    {
        var node = _root;
        AddedToken? best = null;
        int bestEnd = -1;
        for (int j = i; j < s.Length && node.Children is not null && node.Children.TryGetValue(s[j], out var child); j++)
        {
            node = child;
            if (node.Token is not null) { best = node.Token; bestEnd = j + 1; }
        }
        return (best, bestEnd);
    }

    /// <summary>Rust regex's Unicode <c>\w</c>: letters, marks, decimal digits, connector punctuation.</summary>
    private static bool IsWord(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
        or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.NonSpacingMark
        or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation;

    private static bool IsWordCharBefore(string s, int index) =>
        Rune.DecodeLastFromUtf16(s.AsSpan(0, index), out var r, out _) == System.Buffers.OperationStatus.Done && IsWord(r);

    private static bool IsWordCharAt(string s, int index) =>
        Rune.DecodeFromUtf16(s.AsSpan(index), out var r, out _) == System.Buffers.OperationStatus.Done && IsWord(r);
}
