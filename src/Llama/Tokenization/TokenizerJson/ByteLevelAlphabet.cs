namespace LoRAM.Llama.Tokenization;

/// <summary>GPT-2's reversible map from the 256 byte values to printable characters, which byte-level BPE vocabularies
/// are written in: printable Latin-1 bytes map to themselves, the others to U+0100 onwards (space → 'Ġ', '\n' → 'Ċ').</summary>
internal static class ByteLevelAlphabet
{
    public static readonly char[] ByteToChar = Build();
    /// <summary>The byte of each alphabet character, -1 for characters outside it (indexed by char, up to U+0143).</summary>
    public static readonly short[] CharToByte = Reverse();

    private static char[] Build()
    {
        var map = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + extra++);
        }
        return map;
    }

    private static short[] Reverse()
    {
        var r = new short[0x144];
        Array.Fill(r, (short)-1);
        for (int b = 0; b < 256; b++) r[ByteToChar[b]] = (short)b;
        return r;
    }

    /// <summary>The alphabet characters of <paramref name="text"/>'s UTF-8 bytes.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        int n = System.Text.Encoding.UTF8.GetByteCount(text);
        Span<byte> bytes = n <= 1024 ? stackalloc byte[n] : new byte[n];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        return string.Create(n, bytes.ToArray(), static (dst, b) => { for (int i = 0; i < b.Length; i++) dst[i] = ByteToChar[b[i]]; });
    }
}
