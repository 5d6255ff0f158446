using LoRAM.Autograd;
using LoRAM.Tensors;

namespace LoRAM.Quantization;

/// <summary>
/// A frozen linear weight W [out, in] kept in NF4 on the device (QLoRA; the paper's QLoRAM, Eq. (9)): 4-bit codes
/// plus one float32 absmax per 64 weights of the flattened W — a block may straddle two rows when in_features is not a
/// multiple of 64 (a doubly-quantized absmax is expanded once, here, at load time). Both
/// products decode W on the fly inside <see cref="Backend.Nf4Gemm"/>, so no float32 copy of W ever exists:
///   forward y = x·Ŵᵀ;   input gradient dx = dy·Ŵ.
/// </summary>
public sealed class Nf4FrozenWeight : FrozenWeight
{
    /// <summary>Takes ownership of the matrix's two tensors.</summary>
    public Nf4FrozenWeight(Nf4Matrix matrix)
    {
        matrix.Validate(nameof(Nf4FrozenWeight));
        Matrix = matrix;
        Backend = matrix.Codes.Backend;
    }

    /// <summary>Uploads a host-side NF4 weight (its codes as they are, its absmax as float32).</summary>
    public static Nf4FrozenWeight Upload(Backend backend, Nf4Weight weight)
    {
        var absmax = new float[weight.Blocks];
        for (int b = 0; b < absmax.Length; b++) absmax[b] = weight.BlockAbsmax(b);
        var codes = Tensor.FromSpan<byte>(backend, weight.Packed, DType.U8, weight.Packed.Length);
        try { return new Nf4FrozenWeight(new Nf4Matrix(codes, Tensor.FromArray(backend, absmax, absmax.Length), weight.Rows, weight.Cols)); }
        catch { codes.Dispose(); throw; }
    }

    public Nf4Matrix Matrix { get; }
    public override int OutFeatures => Matrix.Rows;
    public override int InFeatures => Matrix.Cols;

    /// <summary>Codes (0.5 byte per weight) and float32 scales (4 bytes per 64 weights): 4.5 bits per weight.</summary>
    public override long Bytes => Matrix.Bytes;
    public override MemoryCategory Category => MemoryCategory.FrozenNF4;

    public override void Forward(Tensor x, Tensor y, bool accumulate = false)
    {
        using var x2 = x.Reshape(-1, InFeatures);
        using var y2 = y.Reshape(-1, OutFeatures);
        Backend.Nf4Gemm(x2, Matrix, true, y2, 1f, accumulate ? 1f : 0f);
    }

    public override void BackwardInput(Tensor dy, Tensor dx, bool accumulate = false)
    {
        using var dy2 = dy.Reshape(-1, OutFeatures);
        using var dx2 = dx.Reshape(-1, InFeatures);
        Backend.Nf4Gemm(dy2, Matrix, false, dx2, 1f, accumulate ? 1f : 0f);
    }

    public override void Dispose()
    {
        Matrix.Codes.Dispose();
        Matrix.Absmax.Dispose();
    }
}
