using LoRAM.Llama;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Data;

/// <summary>What <c>loram tokenize</c> is given: a folder with a tokenizer (weights not needed) and exactly one input.</summary>
public sealed record TokenizeOptions
{
    /// <summary>Folder holding tokenizer.json, tokenizer.model or loram_tokenizer.json (config.json optional: when
    /// present, every id must fit its vocab_size).</summary>
    public required string Model { get; init; }
    public string? Text { get; init; }
    /// <summary>A text file, tokenized whole as one text.</summary>
    public string? File { get; init; }
    /// <summary>JSONL of {"text": string}: one id sequence a line.</summary>
    public string? Jsonl { get; init; }
}

/// <summary>The ids of each input text, in input order (one for --text/--file, one a line for --jsonl).</summary>
public sealed record TokenizeReport(string Tokenizer, IReadOnlyList<int[]> Sequences);

/// <summary>
/// Text → token ids exactly as Hugging Face's <c>tokenizer(text)["input_ids"]</c>: the tokenizer's post-processor adds
/// its special tokens (BOS for LLaMA and Gemma, none for Qwen), i.e. <see cref="ITokenizer.Encode"/> with addBos.
/// </summary>
public static class TextTokenization
{
    public static TokenizeReport Run(TokenizeOptions o)
    {
        int inputs = (o.Text is null ? 0 : 1) + (o.File is null ? 0 : 1) + (o.Jsonl is null ? 0 : 1);
        if (inputs != 1) throw new UserInputException("give exactly one of --text, --file or --jsonl");
        if (!Directory.Exists(o.Model)) throw new UserInputException($"{o.Model}: no such folder");
        ITokenizer tokenizer;
        var config = Path.Combine(o.Model, ModelFolder.Config);
        try { tokenizer = System.IO.File.Exists(config) ? Tokenizers.Load(o.Model, LlamaConfig.Load(config)) : Tokenizers.Load(o.Model); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        IEnumerable<string> texts;
        if (o.Text is not null) texts = [o.Text];
        else if (o.File is not null)
        {
            if (!System.IO.File.Exists(o.File)) throw new UserInputException($"{o.File}: file not found");
            texts = [System.IO.File.ReadAllText(o.File)];
        }
        else texts = Data.Jsonl.Read(o.Jsonl!).Select(r => Data.Jsonl.RequiredString(r.Obj, "text", o.Jsonl!, r.Line));
        return new TokenizeReport(tokenizer.GetType().Name, texts.Select(t => tokenizer.Encode(t, addBos: true)).ToList());
    }
}
