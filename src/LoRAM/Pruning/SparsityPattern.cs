namespace LoRAM.Pruning;

/// <summary>
/// The mask M of a non-structured pruned matrix [rows, cols] (row-major): true = kept. LoRA on the pruned
/// model trains the effective delta (B A) ∘ M, so this is what the pruning record stores.
/// <para>Packed form (<see cref="Pack"/>): bit i of the flattened row-major mask is bit (i mod 8) of byte
/// ⌊i / 8⌋, least significant bit first; 1 = kept. ⌈rows · cols / 8⌉ bytes, trailing bits 0.</para>
/// </summary>
public sealed class SparsityPattern
{
    private readonly bool[] _kept;

    public SparsityPattern(int rows, int cols, bool[] kept)
    {
        if (kept.Length != (long)rows * cols) throw new ArgumentException($"mask length {kept.Length} ≠ {rows}×{cols}");
        Rows = rows; Cols = cols; _kept = kept;
    }

    public int Rows { get; }
    public int Cols { get; }

    public bool IsKept(int row, int col) => _kept[(long)row * Cols + col];

    /// <summary>The flattened row-major mask.</summary>
    public ReadOnlySpan<bool> Kept => _kept;

    public long KeptCount
    {
        get { long k = 0; foreach (bool b in _kept) if (b) k++; return k; }
    }

    public long PrunedCount => _kept.LongLength - KeptCount;

    /// <summary>Kept fraction (1 − sparsity).</summary>
    public double Density => _kept.Length == 0 ? 1 : (double)KeptCount / _kept.LongLength;

    public double Sparsity => 1 - Density;

    /// <summary>True when every run of <paramref name="m"/> consecutive columns of every row keeps at most <paramref name="n"/>.</summary>
    public bool SatisfiesNM(int n, int m)
    {
        if (Cols % m != 0) return false;
        for (int r = 0; r < Rows; r++)
            for (int g = 0; g < Cols; g += m)
            {
                int kept = 0;
                for (int t = 0; t < m; t++) if (_kept[(long)r * Cols + g + t]) kept++;
                if (kept > n) return false;
            }
        return true;
    }

    /// <summary>Zeroes the pruned entries of <paramref name="weight"/> [rows, cols].</summary>
    public void Apply(Span<float> weight)
    {
        if (weight.Length != _kept.Length) throw new ArgumentException("weight and mask shapes differ");
        for (int i = 0; i < _kept.Length; i++) if (!_kept[i]) weight[i] = 0;
    }

    /// <summary>Bit-packed mask, LSB first (see the class remarks).</summary>
    public byte[] Pack()
    {
        var bytes = new byte[(_kept.LongLength + 7) / 8];
        for (long i = 0; i < _kept.LongLength; i++)
            if (_kept[i]) bytes[i >> 3] |= (byte)(1 << (int)(i & 7));
        return bytes;
    }

    public static SparsityPattern Unpack(ReadOnlySpan<byte> packed, int rows, int cols)
    {
        long count = (long)rows * cols;
        if (packed.Length != (count + 7) / 8) throw new ArgumentException($"expected {(count + 7) / 8} bytes for a {rows}×{cols} mask");
        var kept = new bool[count];
        for (long i = 0; i < count; i++) kept[i] = (packed[(int)(i >> 3)] >> (int)(i & 7) & 1) != 0;
        return new SparsityPattern(rows, cols, kept);
    }

    /// <summary>The mask of the nonzero entries of a weight.</summary>
    public static SparsityPattern FromNonZeros(ReadOnlySpan<float> weight, int rows, int cols)
    {
        var kept = new bool[(long)rows * cols];
        for (int i = 0; i < kept.Length; i++) kept[i] = weight[i] != 0;
        return new SparsityPattern(rows, cols, kept);
    }
}
