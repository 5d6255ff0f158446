using System.Text;

namespace LoRAM.Llama.Tokenization;

/// <summary>The tokenizer of LoRAM's own small models: ids 0–255 are the UTF-8 bytes, then BOS 256, EOS 257, pad 258.
/// A folder uses it when it holds <c>loram_tokenizer.json</c> with <c>{"type": "byte"}</c>.</summary>
public sealed class ByteTokenizer : ITokenizer
{
    public const string FileName = "loram_tokenizer.json";

    public int VocabSize => 259;
    public int BosId => 256;
    public int EosId => 257;
    public int PadId => 258;

    public int[] Encode(string text, bool addBos = true)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var ids = new int[bytes.Length + (addBos ? 1 : 0)];
        if (addBos) ids[0] = BosId;
        for (int i = 0; i < bytes.Length; i++) ids[i + (addBos ? 1 : 0)] = bytes[i];
        return ids;
    }

    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (id is < 0 or >= 259) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} outside the byte vocabulary of 259");
            if (id < 256) bytes.Add((byte)id);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());   // invalid or incomplete sequences become U+FFFD
    }
}
