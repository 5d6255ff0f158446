using LoRAM.Tensors;
using static LoRAM.Autograd.Tests.GradCheck;

namespace LoRAM.Autograd.Tests;

/// <summary>
/// The fused causal GQA attention (forward and backward) against the same computation composed of primitive ops,
/// head by head: P = softmax(scale·q_h·k_gᵀ + causal mask), o_h = P·v_g, with query head h reading key/value
/// head g = h/(Hq/Hkv). Both use the tape; the composition's gradients come from MatMul/Softmax/Add backward.
/// Bound: relative error 1e-4 (float32 rounding of two different summation orders).
/// </summary>
public class AttentionCompositionTests
{
    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void Gqa_attention_backward_matches_matmul_softmax_mask_composition(string backend)
    {
        foreach (var (T, S) in new[] { (6, 6), (3, 6) })
            Compare(backend, T, S, hq: 4, hkv: 2, d: 8);
    }

    private static void Compare(string backend, int T, int S, int hq, int hkv, int d)
    {
        using var be = TestBackends.Create(backend);
        var rng = new Random(T * 31 + S);
        float[] qh = Uniform(rng, T * hq * d), kh = Uniform(rng, S * hkv * d), vh = Uniform(rng, S * hkv * d), dOh = Uniform(rng, T * hq * d);
        float scale = 1f / MathF.Sqrt(d);

        // Fused.
        using var q = Var.Parameter(Tensor.FromArray(be, qh, 1, T, hq, d));
        using var k = Var.Parameter(Tensor.FromArray(be, kh, 1, S, hkv, d));
        using var v = Var.Parameter(Tensor.FromArray(be, vh, 1, S, hkv, d));
        float[] fusedOut;
        using (var tape = new Tape(be))
        {
            var o = tape.Attention(q, k, v, scale);
            fusedOut = o.Value.ToArray<float>();
            using var dO = Tensor.FromArray(be, dOh, 1, T, hq, d);
            tape.Backward(o, dO);
        }

        // Composition, per head, on [T, d] / [S, d] slices gathered on the host.
        float[] Head(float[] x, int rows, int heads, int h) =>
            Enumerable.Range(0, rows).SelectMany(r => x.AsSpan((r * heads + h) * d, d).ToArray()).ToArray();
        var mask = new float[T * S];
        for (int t = 0; t < T; t++) for (int s = 0; s < S; s++) mask[t * S + s] = s <= S - T + t ? 0f : -1e9f;
        using var maskVar = Var.Constant(Tensor.FromArray(be, mask, T, S));
        var ks = Enumerable.Range(0, hkv).Select(g => Var.Parameter(Tensor.FromArray(be, Head(kh, S, hkv, g), S, d))).ToArray();
        var vs = Enumerable.Range(0, hkv).Select(g => Var.Parameter(Tensor.FromArray(be, Head(vh, S, hkv, g), S, d))).ToArray();
        var qs = Enumerable.Range(0, hq).Select(h => Var.Parameter(Tensor.FromArray(be, Head(qh, T, hq, h), T, d))).ToArray();
        using (var tape = new Tape(be))
        {
            for (int h = 0; h < hq; h++)
            {
                int g = h / (hq / hkv);
                var scores = tape.Add(tape.Scale(tape.MatMul(qs[h], ks[g], transB: true), scale), maskVar);
                var o = tape.MatMul(tape.Softmax(scores), vs[g]);
                AssertClose(Head(fusedOut, T, hq, h), o.Value.ToArray<float>(), 1e-4, $"output head {h}");
                using var dO = Tensor.FromArray(be, Head(dOh, T, hq, h), T, d);
                tape.Backward(o, dO);
            }
        }
        var dq = q.Grad!.ToArray<float>(); var dk = k.Grad!.ToArray<float>(); var dv = v.Grad!.ToArray<float>();
        for (int h = 0; h < hq; h++) AssertClose(Head(dq, T, hq, h), qs[h].Grad!.ToArray<float>(), 1e-4, $"dq head {h}");
        for (int g = 0; g < hkv; g++)
        {
            AssertClose(Head(dk, S, hkv, g), ks[g].Grad!.ToArray<float>(), 1e-4, $"dk group {g}");
            AssertClose(Head(dv, S, hkv, g), vs[g].Grad!.ToArray<float>(), 1e-4, $"dv group {g}");
        }
        foreach (var x in qs.Concat(ks).Concat(vs)) x.Dispose();
    }

    internal static void AssertClose(float[] expected, float[] actual, double rel, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(expected.Max(x => Math.Abs((double)x)), 1e-6);
        double err = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max() / scale;
        Assert.True(err <= rel, $"{what}: relative error {err:E3} > {rel:E1}");
    }
}
