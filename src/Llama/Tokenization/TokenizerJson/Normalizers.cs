using System.Globalization;
using System.Text;

namespace LoRAM.Llama.Tokenization;

/// <summary>A tokenizer.json <c>normalizer</c>: rewrites a piece of text before it is split into words. Hugging Face
/// also tracks offsets through each rewrite; ids do not depend on them, so these rewrite strings only.</summary>
internal interface INormalizer
{
    string Normalize(string text);
}

internal sealed class SequenceNormalizer(INormalizer[] steps) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (var s in steps) text = s.Normalize(text);
        return text;
    }
}

/// <summary>Prepends a string to non-empty text (LLaMA-2: "▁").</summary>
internal sealed class PrependNormalizer(string prepend) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : prepend + text;
}

/// <summary>Replaces every occurrence of a literal string or every match of a regex.</summary>
internal sealed class ReplaceNormalizer(string? literal, FileRegex? regex, string content) : INormalizer
{
    public string Normalize(string text) =>
        literal is not null ? (literal.Length == 0 ? text : text.Replace(literal, content, StringComparison.Ordinal)) : regex!.Replace(text, content);
}

internal sealed class UnicodeNormalizer(NormalizationForm form) : INormalizer
{
    public string Normalize(string text) => UnicodeNormalization.Normalize(text, form);
}

/// <summary>Lowercases character by character, as Rust's <c>char::to_lowercase</c> does (full mapping: 'İ' → "i̇").</summary>
internal sealed class LowercaseNormalizer : INormalizer
{
    public string Normalize(string text) => Lower(text);

    public static string Lower(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var r in text.EnumerateRunes())
        {
            if (r.Value == 0x130) sb.Append("i\u0307");
            else sb.Append(Rune.ToLowerInvariant(r).ToString());
        }
        return sb.ToString();
    }
}

/// <summary>Removes Unicode whitespace from the left and/or right end.</summary>
internal sealed class StripNormalizer(bool left, bool right) : INormalizer
{
    public string Normalize(string text) => left && right ? text.Trim() : left ? text.TrimStart() : right ? text.TrimEnd() : text;
}

/// <summary>Removes combining marks (category Mn), as Hugging Face's StripAccents does after an NFD/NFKD.</summary>
internal sealed class StripAccentsNormalizer : INormalizer
{
    public string Normalize(string text) => StripAccents(text);

    public static string StripAccents(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var r in text.EnumerateRunes())
            if (Rune.GetUnicodeCategory(r) != UnicodeCategory.NonSpacingMark) sb.Append(r.ToString());
        return sb.ToString();
    }
}

/// <summary>BERT's normalizer: drops control characters and maps whitespace to ' ' (clean_text), surrounds CJK
/// ideographs with spaces, strips accents (by default when lowercasing) and lowercases.</summary>
internal sealed class BertNormalizer(bool cleanText, bool handleChineseChars, bool? stripAccents, bool lowercase) : INormalizer
{
    public string Normalize(string text)
    {
        if (cleanText || handleChineseChars)
        {
            var sb = new StringBuilder(text.Length);
            foreach (var r in text.EnumerateRunes())
            {
                if (cleanText)
                {
                    if (r.Value is 0 or 0xFFFD || IsControl(r)) continue;
                    if (r.Value is '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator) { sb.Append(' '); continue; }
                }
                if (handleChineseChars && IsChinese(r.Value)) sb.Append(' ').Append(r.ToString()).Append(' ');
                else sb.Append(r.ToString());
            }
            text = sb.ToString();
        }
        if (stripAccents ?? lowercase) text = StripAccentsNormalizer.StripAccents(UnicodeNormalization.Normalize(text, NormalizationForm.FormD));
        if (lowercase) text = LowercaseNormalizer.Lower(text);
        return text;
    }

    private static bool IsControl(Rune r) => r.Value is not ('\t' or '\n' or '\r') && Rune.GetUnicodeCategory(r) is
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    private static bool IsChinese(int c) => c is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF
        or >= 0x2A700 and <= 0x2B73F or >= 0x2B740 and <= 0x2B81F or >= 0x2B920 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
