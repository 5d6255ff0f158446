namespace LoRAM.Tensors;

/// <summary>
/// A matrix W [Rows, Cols] stored as QLoRA NF4 on a backend, in bitsandbytes' layout (see
/// src/LoRAM/Quantization/README.md): the row-major weight flattened and cut into blocks of 64 elements,
/// element i has the 4-bit code of w_i / absmax_{i/64}, two codes per byte with element 2j in the HIGH nibble
/// of byte j. Dequantization: ŵ_i = NF4[code_i] · absmax_{i/64} (one float32 product, as bitsandbytes).
/// <para><see cref="Codes"/> is U8 [⌈Rows·Cols/2⌉]; <see cref="Absmax"/> is F32 [⌈Rows·Cols/64⌉]: the scales live on
/// the device as float32 (0.5 bit per weight); a doubly-quantized checkpoint is expanded to this form at load time,
/// so the GEMM reads one scale per block instead of decoding three arrays. Any Cols works: blocks run along the
/// flattened matrix, so when Cols is not a multiple of 64 a block straddles two rows (LLaMA's down_proj with
/// intermediate_size 688, say), and with an odd element count the last block is short and the last low nibble unused.
/// Every kernel indexes element (r, c) as flat element r·Cols + c and its scale as absmax[(r·Cols + c) / 64].</para>
/// </summary>
public readonly record struct Nf4Matrix(Tensor Codes, Tensor Absmax, int Rows, int Cols)
{
    public const int BlockSize = 64;

    /// <summary>The 16 NF4 levels, code 0..15 (bitsandbytes' float32 table; LoRAM.Quantization.NormalFloat4 builds and tests it).</summary>
    public static ReadOnlySpan<float> Levels =>
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>Device bytes of codes and scales.</summary>
    public long Bytes => Codes.Bytes + Absmax.Bytes;

    /// <summary>Codes and scales a matrix of <paramref name="rows"/>×<paramref name="cols"/> needs: ⌈count/2⌉ bytes and ⌈count/64⌉ scales.</summary>
    public static (long CodeBytes, long Blocks) Sizes(int rows, int cols)
    {
        long count = (long)rows * cols;
        return ((count + 1) / 2, (count + BlockSize - 1) / BlockSize);
    }

    /// <summary>Throws unless the tensors have the dtypes and lengths the layout needs.</summary>
    public void Validate(string kernel)
    {
        if (Rows < 0 || Cols <= 0)
            throw new ArgumentException($"{kernel}: an NF4 matrix needs Rows ≥ 0 and Cols > 0 (got [{Rows}, {Cols}])");
        var (codeBytes, blocks) = Sizes(Rows, Cols);
        if (Codes.DType != DType.U8 || Codes.Length != codeBytes)
            throw new ArgumentException($"{kernel}: NF4 codes must be U8 with {codeBytes} elements for [{Rows}, {Cols}] (got {Codes} of {Codes.Length})");
        if (Absmax.DType != DType.F32 || Absmax.Length != blocks)
            throw new ArgumentException($"{kernel}: NF4 absmax must be F32 with {blocks} elements for [{Rows}, {Cols}] (got {Absmax} of {Absmax.Length})");
        if (Codes.Backend != Absmax.Backend) throw new ArgumentException($"{kernel}: NF4 codes and absmax live on different backends");
    }
}
