using System.IO.Compression;
using System.Text;

namespace LoRAM.Llama.Tokenization;

/// <summary>
/// NFC, NFD, NFKC and NFKD (UAX #15) from tables of our own: this project runs with InvariantGlobalization, where
/// <see cref="string.Normalize()"/> returns its input unchanged. Decomposition is full (precomputed) and algorithmic for
/// Hangul; marks are put in canonical order by combining class; composition joins each starter with the following
/// unblocked characters that form a primary composite. The tables (unicode-normalization.bin.gz, written by
/// make-unicode-data.py) hold Unicode 14.0; characters added since are left as they are.
/// </summary>
internal static class UnicodeNormalization
{
    private static readonly Dictionary<int, int[]> Canonical = new(), Compatibility = new();
    private static readonly Dictionary<int, byte> CombiningClass = new();
    private static readonly Dictionary<long, int> Composites = new();

    static UnicodeNormalization()
    {
        using var s = typeof(UnicodeNormalization).Assembly.GetManifestResourceStream("LoRAM.Llama.unicode-normalization.bin.gz")
            ?? throw new InvalidOperationException("embedded Unicode normalization tables are missing");
        using var gz = new GZipStream(s, CompressionMode.Decompress);
        using var r = new BinaryReader(gz);
        int n = r.ReadInt32();
        for (int i = 0; i < n; i++)
        {
            int cp = r.ReadInt32(), kind = r.ReadInt32(), len = r.ReadInt32();
            var d = new int[len];
            for (int k = 0; k < len; k++) d[k] = r.ReadInt32();
            (kind == 0 ? Canonical : Compatibility)[cp] = d;
        }
        n = r.ReadInt32();
        for (int i = 0; i < n; i++) { int cp = r.ReadInt32(); CombiningClass[cp] = (byte)r.ReadInt32(); }
        n = r.ReadInt32();
        for (int i = 0; i < n; i++) { int a = r.ReadInt32(), b = r.ReadInt32(); Composites[(long)a << 21 | (uint)b] = r.ReadInt32(); }
    }

    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    public static string Normalize(string text, NormalizationForm form)
    {
        bool compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;
        if (IsAscii(text)) return text;
        var cps = new List<int>(text.Length);
        foreach (var rune in text.EnumerateRunes()) Decompose(rune.Value, compat, cps);
        // Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int i = 0; i < cps.Count; i++)
        {
            if (Ccc(cps[i]) == 0) continue;
            int j = i;
            while (j < cps.Count && Ccc(cps[j]) != 0) j++;
            if (j - i > 1)
            {
                var run = cps.GetRange(i, j - i).OrderBy(Ccc).ToList();   // OrderBy is stable
                for (int k = 0; k < run.Count; k++) cps[i + k] = run[k];
            }
            i = j;
        }
        if (compose) cps = Compose(cps);
        var sb = new StringBuilder(cps.Count);
        foreach (var cp in cps) sb.Append(char.ConvertFromUtf32(cp));
        return sb.ToString();
    }

    private static bool IsAscii(string s)
    {
        foreach (char c in s) if (c >= 0x80) return false;
        return true;
    }

    private static int Ccc(int cp) => CombiningClass.TryGetValue(cp, out byte c) ? c : 0;

    private static void Decompose(int cp, bool compat, List<int> output)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            int s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (compat && Compatibility.TryGetValue(cp, out var k)) { output.AddRange(k); return; }
        if (Canonical.TryGetValue(cp, out var d)) { output.AddRange(d); return; }
        output.Add(cp);
    }

    private static int? Pair(int a, int b)
    {
        if (a is >= LBase and < LBase + LCount && b is >= VBase and < VBase + VCount) return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
        if (a is >= SBase and < SBase + SCount && (a - SBase) % TCount == 0 && b is > TBase and < TBase + TCount) return a + (b - TBase);
        return Composites.TryGetValue((long)a << 21 | (uint)b, out int c) ? c : null;
    }

    private static List<int> Compose(List<int> cps)
    {
        var o = new List<int>(cps.Count);
        int starter = -1, lastCcc = -1;   // lastCcc -1: nothing between the starter and the current character
        foreach (int c in cps)
        {
            int cc = Ccc(c);
            if (starter >= 0 && (lastCcc == -1 || lastCcc < cc) && Pair(o[starter], c) is int p) { o[starter] = p; continue; }
            if (cc == 0) { starter = o.Count; lastCcc = -1; }
            else lastCcc = cc;
            o.Add(c);
        }
        return o;
    }
}
