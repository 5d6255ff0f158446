using LoRAM.Tensors;

namespace LoRAM.Autograd;

/// <summary>
/// A frozen linear weight W [out, in] as the base model stores it (F32, BF16, F16, later NF4). It never gets a
/// gradient; it only has to multiply: forward y = x·Wᵀ and, for the gradient of its input, dx = dy·W. Each
/// implementation dequantises on the fly inside its matmul, so no float32 copy of W is ever materialised.
/// </summary>
public abstract class FrozenWeight : IDisposable
{
    public abstract int OutFeatures { get; }
    public abstract int InFeatures { get; }

    /// <summary>Device bytes the weight occupies (codes and scales included).</summary>
    public abstract long Bytes { get; }

    /// <summary>Where <see cref="MemoryLedger"/> counts it.</summary>
    public abstract MemoryCategory Category { get; }

    public Backend Backend { get; protected init; } = null!;

    /// <summary>y = x·Wᵀ (+ y when <paramref name="accumulate"/>). x [.., in], y [.., out] (F32).</summary>
    public abstract void Forward(Tensor x, Tensor y, bool accumulate = false);

    /// <summary>dx = dy·W (+ dx when <paramref name="accumulate"/>). dy [.., out], dx [.., in] (F32).</summary>
    public abstract void BackwardInput(Tensor dy, Tensor dx, bool accumulate = false);

    public abstract void Dispose();
}

/// <summary>A frozen weight stored densely as F32, BF16 or F16: both products are one GEMM reading W in its own dtype.</summary>
public sealed class DenseFrozenWeight : FrozenWeight
{
    /// <summary>Takes ownership of <paramref name="weight"/> [out, in].</summary>
    public DenseFrozenWeight(Tensor weight)
    {
        if (weight.Rank != 2) throw new ArgumentException($"a linear weight is [out, in], not [{string.Join(", ", weight.ShapeArray())}]");
        if (weight.DType is not (DType.F32 or DType.BF16 or DType.F16)) throw new ArgumentException($"dense frozen weights are F32, BF16 or F16, not {weight.DType}");
        Weight = weight;
        Backend = weight.Backend;
    }

    public Tensor Weight { get; }
    public override int OutFeatures => Weight.Dim(0);
    public override int InFeatures => Weight.Dim(1);
    public override long Bytes => Weight.Bytes;
    public override MemoryCategory Category => MemoryLedger.FrozenCategory(Weight.DType);

    public override void Forward(Tensor x, Tensor y, bool accumulate = false)
    {
        using var x2 = x.Reshape(-1, InFeatures);
        using var y2 = y.Reshape(-1, OutFeatures);
        Backend.Gemm(x2, false, Weight, true, y2, 1f, accumulate ? 1f : 0f);
    }

    public override void BackwardInput(Tensor dy, Tensor dx, bool accumulate = false)
    {
        using var dy2 = dy.Reshape(-1, OutFeatures);
        using var dx2 = dx.Reshape(-1, InFeatures);
        Backend.Gemm(dy2, false, Weight, false, dx2, 1f, accumulate ? 1f : 0f);
    }

    public override void Dispose() => Weight.Dispose();
}
