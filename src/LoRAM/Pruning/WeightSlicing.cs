using LoRAM.Tensors;

namespace LoRAM.Pruning;

/// <summary>
/// Physically removing pruned units: a [out, in] weight keeps some rows (q/k/v/gate/up lose output units) or
/// some columns (o/down lose inputs). Bits are copied as stored, so a BF16 weight stays bit-identical.
/// </summary>
internal static class WeightSlicing
{
    /// <summary>W[rows, :] as a new tensor on <paramref name="backend"/>.</summary>
    public static Tensor Rows(Tensor w, int[] rows, Backend backend)
    {
        int cols = w.Dim(1), size = w.DType.Size(), rowBytes = cols * size;
        var src = w.ToArray<byte>();
        var dst = new byte[(long)rows.Length * rowBytes];
        for (int i = 0; i < rows.Length; i++)
            Array.Copy(src, (long)rows[i] * rowBytes, dst, (long)i * rowBytes, rowBytes);
        return Tensor.FromSpan<byte>(backend, dst, w.DType, rows.Length, cols);
    }

    /// <summary>W[:, cols] as a new tensor on <paramref name="backend"/>.</summary>
    public static Tensor Columns(Tensor w, int[] cols, Backend backend)
    {
        int n = w.Dim(0), width = w.Dim(1), size = w.DType.Size();
        var src = w.ToArray<byte>();
        var dst = new byte[(long)n * cols.Length * size];
        for (int r = 0; r < n; r++)
        {
            long from = (long)r * width * size, to = (long)r * cols.Length * size;
            for (int j = 0; j < cols.Length; j++)
                Array.Copy(src, from + (long)cols[j] * size, dst, to + (long)j * size, size);
        }
        return Tensor.FromSpan<byte>(backend, dst, w.DType, n, cols.Length);
    }
}
