namespace LoRAM.Llama.Tokenization;

/// <summary>Text ↔ token ids for a model folder.</summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int BosId { get; }
    int EosId { get; }
    /// <summary>Id used to right-pad batches (the EOS id where the tokenizer has no pad token).</summary>
    int PadId { get; }

    /// <summary>
    /// Token ids of <paramref name="text"/>. <paramref name="addBos"/> = true means "with the model's special tokens", as
    /// transformers' <c>tokenizer(text)["input_ids"]</c>: for a tokenizer.json, whatever its post-processor adds (LLaMA-2:
    /// <c>&lt;s&gt;</c>; LLaMA-3: <c>&lt;|begin_of_text|&gt;</c>; Gemma: <c>&lt;bos&gt;</c>; Qwen, GPT-2 and SmolLM files add nothing,
    /// exactly as in Hugging Face, so no BOS is invented for models trained without one); for tokenizer.model and
    /// LoRAM's byte tokenizer, <see cref="BosId"/> first. false: no special tokens (<c>add_special_tokens=False</c>).
    /// Special-token strings inside <paramref name="text"/> ("&lt;s&gt;", "&lt;|im_start|&gt;") become their ids, as in Hugging Face.
    /// </summary>
    int[] Encode(string text, bool addBos = true);

    /// <summary>The text of <paramref name="ids"/>; special tokens (BOS, EOS, pad, any added token marked special) are
    /// dropped (Hugging Face's <c>decode(ids, skip_special_tokens=True)</c>, without transformers' optional
    /// clean_up_tokenization_spaces).</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>A decoder for generation that yields text as tokens arrive, holding back incomplete UTF-8.</summary>
    StreamingDecoder CreateStreamingDecoder() => new(this);
}
