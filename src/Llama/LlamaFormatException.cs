namespace LoRAM.Llama;

/// <summary>A model, checkpoint or tokenizer file that cannot be used as it is. The message names the file and,
/// where there is one, the field, and says what was expected — it is meant for the person who supplied the file.
/// The message is always one line: names read from a corrupt file may hold line breaks.</summary>
public sealed class LlamaFormatException : Exception
{
    public LlamaFormatException(string message) : base(message.ReplaceLineEndings(" ")) { }
    public LlamaFormatException(string message, Exception inner) : base(message.ReplaceLineEndings(" "), inner) { }

    /// <summary>"<paramref name="file"/>: <paramref name="what"/>".</summary>
    internal static LlamaFormatException In(string file, string what, Exception? inner = null) =>
        inner is null ? new($"{file}: {what}") : new($"{file}: {what}", inner);
}
