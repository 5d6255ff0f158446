using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Causal GQA attention (training T = S, decoding with a cache T &lt; S, single-token decode) and its exact
/// backward against float64, and against the CPU backend. Bound: |err| ≤ 1e-5 + 1e-4·|expected| (dot products of
/// D float32 terms, exp/log).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuAttentionTests(IlgpuFixture f)
{
    private const double Rel = 1e-4, Abs = 1e-5;

    public static TheoryData<int, int, int, int, int, int> Shapes => new()
    {
        { 1, 7, 7, 2, 2, 16 },
        { 2, 9, 9, 4, 2, 13 },
        { 1, 3, 11, 6, 2, 8 },
        { 2, 1, 5, 4, 1, 19 },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Attention_and_its_backward_match_float64(int b, int t, int s, int hq, int hkv, int d)
    {
        float scale = 1f / MathF.Sqrt(d);
        float[] q = RandomValues(b * t * hq * d, 70, 2), k = RandomValues(b * s * hkv * d, 71, 2), v = RandomValues(b * s * hkv * d, 72);
        float[] dO = RandomValues(b * t * hq * d, 73);
        using var tq = f.Up(q, b, t, hq, d);
        using var tk = f.Up(k, b, s, hkv, d);
        using var tv = f.Up(v, b, s, hkv, d);
        using var tdo = f.Up(dO, b, t, hq, d);
        using var o = Tensor.Empty(f.Gpu, b, t, hq, d);
        using var lse = Tensor.Empty(f.Gpu, b, hq, t);
        f.Gpu.Attention(tq, tk, tv, scale, o, lse);
        var (eo, expectedLse) = Attention(q, k, v, b, t, s, hq, hkv, d, scale);
        AssertClose(eo, o.ToArray<float>(), Rel, Abs, "o");
        AssertClose(expectedLse, lse.ToArray<float>(), Rel, Abs, "lse");
        using var o2 = Tensor.Empty(f.Gpu, b, t, hq, d);
        f.Gpu.Attention(tq, tk, tv, scale, o2, null);   // lse is optional
        Assert.Equal(o.ToArray<float>(), o2.ToArray<float>());

        using var dq = Tensor.Full(f.Gpu, float.NaN, b, t, hq, d);   // overwritten, not accumulated
        using var dk = Tensor.Full(f.Gpu, float.NaN, b, s, hkv, d);
        using var dv = Tensor.Full(f.Gpu, float.NaN, b, s, hkv, d);
        f.Gpu.AttentionBackward(tq, tk, tv, o, lse, tdo, scale, dq, dk, dv);
        var (edq, edk, edv) = AttentionBackward(q, k, v, dO, b, t, s, hq, hkv, d, scale);
        AssertClose(edq, dq.ToArray<float>(), Rel, Abs, "dq");
        AssertClose(edk, dk.ToArray<float>(), Rel, Abs, "dk");
        AssertClose(edv, dv.ToArray<float>(), Rel, Abs, "dv");
    }

    [Fact]
    public void Attention_matches_the_cpu_backend()
    {
        const int b = 1, t = 5, s = 8, hq = 4, hkv = 2, d = 32;
        float[] q = RandomValues(b * t * hq * d, 74, 2), k = RandomValues(b * s * hkv * d, 75, 2), v = RandomValues(b * s * hkv * d, 76);
        using var go = Tensor.Empty(f.Gpu, b, t, hq, d);
        using var gq = f.Up(q, b, t, hq, d);
        using var gk = f.Up(k, b, s, hkv, d);
        using var gv = f.Up(v, b, s, hkv, d);
        f.Gpu.Attention(gq, gk, gv, 0.2f, go, null);
        using var co = Tensor.Empty(f.Cpu, b, t, hq, d);
        using var cq = f.UpCpu(q, b, t, hq, d);
        using var ck = f.UpCpu(k, b, s, hkv, d);
        using var cv = f.UpCpu(v, b, s, hkv, d);
        f.Cpu.Attention(cq, ck, cv, 0.2f, co, null);
        AssertClose(co.ToArray<float>(), go.ToArray<float>(), Rel, Abs, "o vs cpu");
    }

    [Fact]
    public void Head_sizes_beyond_128_are_rejected()
    {
        using var q = Tensor.Zeros(f.Gpu, 1, 2, 1, 130);
        using var o = Tensor.Zeros(f.Gpu, 1, 2, 1, 130);
        Assert.Throws<ArgumentException>(() => f.Gpu.Attention(q, q, q, 1f, o, null));
    }
}
