using System.Text;

namespace LoRAM.Llama.Tokenization;

/// <summary>A tokenizer.json <c>decoder</c>: turns the token strings of some ids back into text pieces, which are then
/// concatenated (Hugging Face's <c>decode_chain</c>).</summary>
internal interface IDecoder
{
    List<string> DecodeChain(List<string> tokens);
}

internal sealed class SequenceDecoder(IDecoder[] steps) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        foreach (var s in steps) tokens = s.DecodeChain(tokens);
        return tokens;
    }
}

/// <summary>Replaces a literal string or regex matches in each token (LLaMA-2: '▁' → ' ').</summary>
internal sealed class ReplaceDecoder(string? literal, FileRegex? regex, string content) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(t =>
        literal is not null ? (literal.Length == 0 ? t : t.Replace(literal, content, StringComparison.Ordinal)) : regex!.Replace(t, content));
}

/// <summary>Runs of <c>&lt;0xNN&gt;</c> tokens become the text of their bytes; a run that is not valid UTF-8 becomes one
/// U+FFFD per byte, as in Hugging Face.</summary>
internal sealed class ByteFallbackDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var o = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        void Flush()
        {
            if (bytes.Count == 0) return;
            var array = bytes.ToArray();
            if (System.Text.Unicode.Utf8.IsValid(array)) o.Add(Encoding.UTF8.GetString(array));
            else for (int i = 0; i < array.Length; i++) o.Add("\uFFFD");
            bytes.Clear();
        }
        foreach (var t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>'
                && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
                bytes.Add(b);
            else { Flush(); o.Add(t); }
        }
        Flush();
        return o;
    }
}

/// <summary>Joins all tokens into one.</summary>
internal sealed class FuseDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>Removes up to <c>start</c> leading and <c>stop</c> trailing <c>content</c> characters from each token.</summary>
internal sealed class StripDecoder(string content, int start, int stop) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(t =>
    {
        var runes = t.EnumerateRunes().Select(r => r.ToString()).ToList();
        int a = 0;
        while (a < start && a < runes.Count && runes[a] == content) a++;
        int b = runes.Count;
        for (int i = 0; i < stop && b > a && runes[b - 1] == content; i++) b--;
        return string.Concat(runes.Skip(a).Take(b - a));
    });
}

/// <summary>'▁' back to ' '; in the first token (when a space was prepended) the replacement characters are dropped.</summary>
internal sealed class MetaspaceDecoder(char replacement, bool dropInFirstToken) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var o = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
            o.Add(i == 0 && dropInFirstToken ? tokens[i].Replace(replacement.ToString(), "") : tokens[i].Replace(replacement, ' '));
        return o;
    }
}

/// <summary>Byte-level BPE: the alphabet characters of all tokens back to bytes, then UTF-8 (invalid sequences become
/// U+FFFD). A token with a character outside the alphabet (an added token such as "&lt;|im_start|&gt;" never is) keeps its own UTF-8.</summary>
internal sealed class ByteLevelDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens)
        {
            bool all = true;
            foreach (char ch in t) if (ch >= ByteLevelAlphabet.CharToByte.Length || ByteLevelAlphabet.CharToByte[ch] < 0) { all = false; break; }
            if (all) foreach (char ch in t) bytes.Add((byte)ByteLevelAlphabet.CharToByte[ch]);
            else bytes.AddRange(Encoding.UTF8.GetBytes(t));
        }
        return [Encoding.UTF8.GetString(bytes.ToArray())];
    }
}

/// <summary>The BPE end-of-word suffix becomes a space (none after the last token).</summary>
internal sealed class BpeSuffixDecoder(string suffix) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var o = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++) o.Add(tokens[i].Replace(suffix, i == tokens.Count - 1 ? "" : " ", StringComparison.Ordinal));
        return o;
    }
}
