using Microsoft.ML.Tokenizers;

namespace LoRAM.Llama.Tokenization;

/// <summary>A Microsoft.ML.Tokenizers tokenizer (byte-level BPE or SentencePiece) with the model's special ids.
/// BOS is added here, not by the library, so <c>addBos</c> means the same for every tokenizer.</summary>
internal sealed class MlTokenizer(Tokenizer inner, int vocabSize, int bosId, int eosId, int padId, IReadOnlySet<int> specialIds) : ITokenizer
{
    public int VocabSize => vocabSize;
    public int BosId => bosId;
    public int EosId => eosId;
    public int PadId => padId;

    public int[] Encode(string text, bool addBos = true)
    {
        var ids = inner.EncodeToIds(text);
        if (!addBos) return ids.ToArray();
        var result = new int[ids.Count + 1];
        result[0] = bosId;
        for (int i = 0; i < ids.Count; i++) result[i + 1] = ids[i];
        return result;
    }

    public string Decode(IEnumerable<int> ids) => inner.Decode(ids.Where(i => !specialIds.Contains(i))) ?? "";
}
