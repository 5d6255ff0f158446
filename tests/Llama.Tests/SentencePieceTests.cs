using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Llama.Tests;

/// <summary>LLaMA-2 style tokenizer.model: a tiny SentencePiece BPE protobuf written byte by byte by the test
/// (fields per sentencepiece_model.proto), loaded through Microsoft.ML.Tokenizers.</summary>
public class SentencePieceTests
{
    private static void Varint(List<byte> o, ulong v) { while (v >= 0x80) { o.Add((byte)(v | 0x80)); v >>= 7; } o.Add((byte)v); }
    private static void Tag(List<byte> o, int field, int wire) => Varint(o, (ulong)(field << 3 | wire));
    private static void Int(List<byte> o, int field, long v) { Tag(o, field, 0); Varint(o, (ulong)v); }
    private static void Bytes(List<byte> o, int field, byte[] b) { Tag(o, field, 2); Varint(o, (ulong)b.Length); o.AddRange(b); }
    private static void Float(List<byte> o, int field, float f) { Tag(o, field, 5); o.AddRange(BitConverter.GetBytes(f)); }

    /// <summary>Pieces: &lt;unk&gt; 0, &lt;s&gt; 1, &lt;/s&gt; 2, then single characters and merged pieces (higher score merges first).</summary>
    internal static byte[] TinyModel(out Dictionary<string, int> ids)
    {
        var pieces = new List<(string Piece, float Score, int Type)> { ("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3) };
        string[] merged = ["▁h", "ll", "▁he", "▁hell", "▁hello", "▁w", "or", "▁wor", "ld", "▁world"];
        for (int i = 0; i < merged.Length; i++) pieces.Add((merged[i], -i, 1));
        foreach (var c in "▁helowrd,!") pieces.Add((c.ToString(), -100 - pieces.Count, 1));
        ids = pieces.Select((p, i) => (p.Piece, i)).ToDictionary(x => x.Piece, x => x.i);
        var model = new List<byte>();
        foreach (var (piece, score, type) in pieces)
        {
            var sp = new List<byte>();
            Bytes(sp, 1, System.Text.Encoding.UTF8.GetBytes(piece));
            Float(sp, 2, score);
            Int(sp, 3, type);
            Bytes(model, 1, sp.ToArray());
        }
        var trainer = new List<byte>();
        Int(trainer, 3, 2);               // model_type = BPE
        Int(trainer, 4, pieces.Count);    // vocab_size
        Int(trainer, 40, 0);              // unk_id
        Int(trainer, 41, 1);              // bos_id
        Int(trainer, 42, 2);              // eos_id
        Int(trainer, 43, -1);             // pad_id (none)
        Bytes(model, 2, trainer.ToArray());
        var normalizer = new List<byte>();
        Bytes(normalizer, 1, "identity"u8.ToArray());
        Int(normalizer, 3, 1);            // add_dummy_prefix
        Int(normalizer, 4, 0);            // remove_extra_whitespaces
        Int(normalizer, 5, 1);            // escape_whitespaces
        Bytes(model, 3, normalizer.ToArray());
        return model.ToArray();
    }

    [Fact]
    public void SentencePiece_model_merges_by_score_and_round_trips()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("tokenizer.model"), TinyModel(out var ids));
        var t = Tokenizers.Load(dir.Path);
        Assert.Equal((1, 2), (t.BosId, t.EosId));
        var encoded = t.Encode("hello world", addBos: true);
        Assert.Equal([1, ids["▁hello"], ids["▁world"]], encoded);
        Assert.Equal("hello world", t.Decode(encoded.Append(2)));
        Assert.Equal("hello, world!", t.Decode(t.Encode("hello, world!")));
        var stream = t.CreateStreamingDecoder();
        Assert.Equal("hello world", string.Concat(encoded.Select(stream.Push)) + stream.Flush());
    }
}
