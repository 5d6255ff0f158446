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
/// B is never widened as a whole; packing and the GEMV paths convert the pieces they touch.</summary>
internal readonly unsafe struct MatrixB(byte* p, DType dtype, int k, int n, bool trans)
{
    public readonly byte* P = p;
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

    public MatrixB At(byte* p) => new(p, DType, K, N, Trans);
}
