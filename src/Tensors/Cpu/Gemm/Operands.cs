using System.Runtime.CompilerServices;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>op(A) of one batch entry as an m×k matrix over row-major F32 memory:
/// element (i, p) lives at <c>P[i·k + p]</c>, or at <c>P[p·m + i]</c> when A is stored transposed ([k, m]).</summary>
internal readonly unsafe struct MatrixA(float* p, int m, int k, bool trans)
{
    public readonly float* P = p;
    public readonly int M = m, K = k;
    public readonly bool Trans = trans;

    public float this[int i, int p]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Trans ? P[(long)p * M + i] : P[(long)i * K + p];
    }

    public MatrixA At(float* p) => new(p, M, K, Trans);
}

/// <summary>op(B) of one batch entry as a k×n matrix in its stored dtype (F32, BF16 or F16):
/// element (p, j) lives at <c>P[p·n + j]</c>, or at <c>P[j·k + p]</c> when B is stored transposed ([n, k]).
/// B is never widened as a whole; packing and the GEMV paths convert the pieces they touch.
/// DType U8 is an NF4 matrix (<see cref="Nf4Matrix"/>): P holds the packed codes of the stored matrix and
/// <see cref="Absmax"/> its per-64 scales; element (p, j) is flat element <see cref="Flat"/> of the stored matrix.</summary>
internal readonly unsafe struct MatrixB(byte* p, DType dtype, int k, int n, bool trans, float* absmax = null)
{
    public readonly byte* P = p;
    public readonly float* Absmax = absmax;
    public readonly DType DType = dtype;
    public readonly int K = k, N = n;
    public readonly bool Trans = trans;

    /// <summary>Address of element (p, j).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Address(int p, int j) => P + (Trans ? (long)j * K + p : (long)p * N + j) * (DType == DType.F32 ? 4 : 2);

    public float this[int p, int j]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Widen.One(Address(p, j), DType);
    }

    public MatrixB At(byte* p) => new(p, DType, K, N, Trans, Absmax);

    /// <summary>Index of element (p, j) in the row-major stored matrix.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Flat(int p, int j) => Trans ? (long)j * K + p : (long)p * N + j;

    /// <summary>dst[0..count) = float32 of the count elements that follow (p, j) in storage order
    /// (along k when transposed, along n otherwise): a BF16/F16 widening or an NF4 dequantization.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Load(int p, int j, float* dst, int count, GemmKernel isa)
    {
        if (DType == DType.U8) Nf4Dequant.Run(P, Absmax, Flat(p, j), dst, count, isa);
        else Widen.Run(Address(p, j), DType, dst, count, isa);
    }
}
