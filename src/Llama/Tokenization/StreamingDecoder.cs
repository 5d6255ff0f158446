namespace LoRAM.Llama.Tokenization;

/// <summary>
/// Turns tokens into text one at a time during generation. A token may end in the middle of a multi-byte UTF-8
/// character (byte-level BPE and byte fallback split them), which decodes to U+FFFD until the rest arrives; such
/// a tail is held back rather than printed. Decoding the whole sequence each time also keeps tokenizer-specific
/// joining rules (SentencePiece's leading space) right.
/// </summary>
public sealed class StreamingDecoder(ITokenizer tokenizer)
{
    private readonly List<int> _ids = new();
    private int _emitted;

    /// <summary>Adds one token; returns the text that became final (possibly empty).</summary>
    public string Push(int id)
    {
        _ids.Add(id);
        var text = tokenizer.Decode(_ids);
        if (text.Length > 0 && text[^1] == '\uFFFD') return "";   // incomplete character: wait for more bytes
        if (text.Length < _emitted) return "";
        var delta = text[_emitted..];
        _emitted = text.Length;
        return delta;
    }

    /// <summary>Whatever is still held back (a trailing incomplete character decodes to U+FFFD).</summary>
    public string Flush()
    {
        var text = tokenizer.Decode(_ids);
        var delta = text.Length > _emitted ? text[_emitted..] : "";
        _emitted = text.Length;
        return delta;
    }
}
