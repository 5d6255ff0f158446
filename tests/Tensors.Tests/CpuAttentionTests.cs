using LoRAM.Tensors.Cpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Causal grouped-query attention against float64: forward (o, lse) and exact backward (dq, dk, dv).
/// Bound: |err| ≤ 1e-5 + 1e-4·|expected| (dot products of D float32 terms, exp/log).</summary>
public class CpuAttentionTests
{
    private const double Rel = 1e-4, Abs = 1e-5;
    private readonly CpuBackend _cpu = new(2);

    // (B, T, S, Hq, Hkv, D): MHA, GQA, decoding with a cache (T < S), a single-token decode, odd head size.
    public static TheoryData<int, int, int, int, int, int> Shapes => new()
    {
        { 1, 7, 7, 2, 2, 16 },
        { 2, 9, 9, 4, 2, 13 },
        { 1, 3, 11, 6, 2, 8 },
        { 2, 1, 5, 4, 1, 19 },
        { 1, 33, 33, 8, 2, 64 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Attention_matches_float64_causal_gqa(int b, int t, int s, int hq, int hkv, int d)
    {
        float scale = 1f / MathF.Sqrt(d);
        float[] q = RandomValues(b * t * hq * d, 70, 2), k = RandomValues(b * s * hkv * d, 71, 2), v = RandomValues(b * s * hkv * d, 72);
        using var tq = Tensor.FromArray(_cpu, q, b, t, hq, d);
        using var tk = Tensor.FromArray(_cpu, k, b, s, hkv, d);
        using var tv = Tensor.FromArray(_cpu, v, b, s, hkv, d);
        using var o = Tensor.Empty(_cpu, b, t, hq, d);
        using var lse = Tensor.Empty(_cpu, b, hq, t);
        _cpu.Attention(tq, tk, tv, scale, o, lse);
        var (eo, expectedLse) = Attention(q, k, v, b, t, s, hq, hkv, d, scale);
        AssertClose(eo, o.ToArray<float>(), Rel, Abs, "o");
        AssertClose(expectedLse, lse.ToArray<float>(), Rel, Abs, "lse");
        using var o2 = Tensor.Empty(_cpu, b, t, hq, d);
        _cpu.Attention(tq, tk, tv, scale, o2, null);   // lse is optional
        Assert.Equal(o.ToArray<float>(), o2.ToArray<float>());
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Attention_backward_matches_the_exact_float64_gradient(int b, int t, int s, int hq, int hkv, int d)
    {
        float scale = 1f / MathF.Sqrt(d);
        float[] q = RandomValues(b * t * hq * d, 73, 2), k = RandomValues(b * s * hkv * d, 74, 2), v = RandomValues(b * s * hkv * d, 75);
        float[] dO = RandomValues(b * t * hq * d, 76);
        using var tq = Tensor.FromArray(_cpu, q, b, t, hq, d);
        using var tk = Tensor.FromArray(_cpu, k, b, s, hkv, d);
        using var tv = Tensor.FromArray(_cpu, v, b, s, hkv, d);
        using var tdo = Tensor.FromArray(_cpu, dO, b, t, hq, d);
        using var o = Tensor.Empty(_cpu, b, t, hq, d);
        using var lse = Tensor.Empty(_cpu, b, hq, t);
        using var dq = Tensor.Full(_cpu, float.NaN, b, t, hq, d);   // overwritten, not accumulated
        using var dk = Tensor.Full(_cpu, float.NaN, b, s, hkv, d);
        using var dv = Tensor.Full(_cpu, float.NaN, b, s, hkv, d);
        _cpu.Attention(tq, tk, tv, scale, o, lse);
        _cpu.AttentionBackward(tq, tk, tv, o, lse, tdo, scale, dq, dk, dv);
        var (edq, edk, edv) = AttentionBackward(q, k, v, dO, b, t, s, hq, hkv, d, scale);
        AssertClose(edq, dq.ToArray<float>(), Rel, Abs, "dq");
        AssertClose(edk, dk.ToArray<float>(), Rel, Abs, "dk");
        AssertClose(edv, dv.ToArray<float>(), Rel, Abs, "dv");
    }

    [Fact]
    public void Reference_attention_backward_agrees_with_finite_differences()
    {
        const int b = 1, t = 3, s = 4, hq = 4, hkv = 2, d = 3;
        const double scale = 0.7;
        float[] q = RandomValues(b * t * hq * d, 77), k = RandomValues(b * s * hkv * d, 78), v = RandomValues(b * s * hkv * d, 79);
        float[] dO = RandomValues(b * t * hq * d, 80);
        var (dq, dk, dv) = AttentionBackward(q, k, v, dO, b, t, s, hq, hkv, d, scale);
        double Loss(float[] qs, float[] ks, float[] vs) => Attention(qs, ks, vs, b, t, s, hq, hkv, d, scale).o.Select((x, i) => x * dO[i]).Sum();
        for (int i = 0; i < q.Length; i++) Assert.Equal(dq[i], CpuNormalizationTests.CentralDifference(q, i, x => Loss(x, k, v)), 3);
        for (int i = 0; i < k.Length; i++) Assert.Equal(dk[i], CpuNormalizationTests.CentralDifference(k, i, x => Loss(q, x, v)), 3);
        for (int i = 0; i < v.Length; i++) Assert.Equal(dv[i], CpuNormalizationTests.CentralDifference(v, i, x => Loss(q, k, x)), 3);
    }

    [Fact]
    public void First_query_of_a_training_sequence_sees_only_the_first_key()
    {
        const int d = 4;
        float[] q = RandomValues(2 * d, 81), k = RandomValues(2 * d, 82), v = RandomValues(2 * d, 83);
        using var tq = Tensor.FromArray(_cpu, q, 1, 2, 1, d);
        using var tk = Tensor.FromArray(_cpu, k, 1, 2, 1, d);
        using var tv = Tensor.FromArray(_cpu, v, 1, 2, 1, d);
        using var o = Tensor.Empty(_cpu, 1, 2, 1, d);
        _cpu.Attention(tq, tk, tv, 1f, o, null);
        Assert.Equal(v[..d], o.ToArray<float>()[..d]);
    }
}
