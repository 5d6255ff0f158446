namespace LoRAM.Llama.Tokenization;

/// <summary>Text ↔ token ids for a model folder.</summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int BosId { get; }
    int EosId { get; }
    /// <summary>Id used to right-pad batches (the EOS id where the tokenizer has no pad token).</summary>
    int PadId { get; }

    /// <summary>Token ids of <paramref name="text"/>, preceded by <see cref="BosId"/> when <paramref name="addBos"/>.</summary>
    int[] Encode(string text, bool addBos = true);

    /// <summary>The text of <paramref name="ids"/>; special tokens (BOS, EOS, pad) are dropped.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>A decoder for generation that yields text as tokens arrive, holding back incomplete UTF-8.</summary>
    StreamingDecoder CreateStreamingDecoder() => new(this);
}
