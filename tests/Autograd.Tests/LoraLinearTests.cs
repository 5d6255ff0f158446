using LoRAM.Tensors;
using static LoRAM.Autograd.Tests.GradCheck;

namespace LoRAM.Autograd.Tests;

/// <summary>
/// The fused LoRA layer against the same computation written with primitive ops:
/// y = Linear(x, W0) + s·Linear(x, ΔW) with ΔW = B·A (or MaskedMul(B·A, M)). Bound: relative error 1e-5.
/// </summary>
public class LoraLinearTests
{
    private const float S = 2f;

    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void Unmasked_lora_matches_composition(string backend) => Compare(backend, masked: false);

    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void Masked_lora_matches_composition_and_masked_positions_get_zero_delta_gradient(string backend) => Compare(backend, masked: true);

    private static void Compare(string backend, bool masked)
    {
        using var be = TestBackends.Create(backend);
        var rng = new Random(masked ? 2 : 1);
        int n = 5, inF = 7, outF = 6, r = 3;
        using var w0 = new DenseFrozenWeight(Rand(be, rng, outF, inF).Cast(DType.BF16));
        var maskHost = Uniform(rng, outF * inF).Select(u => u > -0.2f ? 1f : 0f).ToArray();
        using var mask = Tensor.FromArray(be, maskHost, outF, inF);
        float[] xh = Uniform(rng, n * inF), ah = Uniform(rng, r * inF), bh = Uniform(rng, outF * r), dyh = Uniform(rng, n * outF);

        (float[] Y, float[] Dx, float[] Da, float[] Db, float[]? Dp) Run(bool fused)
        {
            using var x = Var.Parameter(Tensor.FromArray(be, xh, n, inF), "x");
            using var a = Var.Parameter(Tensor.FromArray(be, ah, r, inF), "A");
            using var b = Var.Parameter(Tensor.FromArray(be, bh, outF, r), "B");
            using var tape = new Tape(be);
            Var y, p = null!;
            if (fused) y = tape.LoraLinear(x, w0, a, b, S, mask: masked ? mask : null);
            else
            {
                p = tape.MatMul(b, a).Retain();
                var delta = masked ? tape.MaskedMul(p, mask) : p;
                y = tape.Add(tape.Linear(x, w0), tape.Scale(tape.Linear(x, delta), S));
            }
            var yv = y.Value.ToArray<float>();
            using var dy = Tensor.FromArray(be, dyh, n, outF);
            tape.Backward(y, dy);
            return (yv, x.Grad!.ToArray<float>(), a.Grad!.ToArray<float>(), b.Grad!.ToArray<float>(), fused ? null : p.Grad!.ToArray<float>());
        }

        var f = Run(fused: true);
        var c = Run(fused: false);
        AttentionCompositionTests.AssertClose(c.Y, f.Y, 1e-5, "y");
        AttentionCompositionTests.AssertClose(c.Dx, f.Dx, 1e-5, "dx");
        AttentionCompositionTests.AssertClose(c.Da, f.Da, 1e-5, "dA");
        AttentionCompositionTests.AssertClose(c.Db, f.Db, 1e-5, "dB");
        if (masked)
        {
            // d(B·A) is the delta gradient masked by M: exactly zero where W0 was pruned.
            for (int i = 0; i < maskHost.Length; i++)
                if (maskHost[i] == 0f) Assert.Equal(0f, c.Dp![i]);
            Assert.Contains(c.Dp!, g => g != 0f);
        }
    }

    [Theory, MemberData(nameof(TestBackends.NamesWithIlgpu), MemberType = typeof(TestBackends))]
    public void Frozen_base_weight_and_constant_input_get_no_gradient_buffers(string backend)
    {
        using var be = TestBackends.Create(backend);
        var rng = new Random(3);
        using var w0 = new DenseFrozenWeight(Rand(be, rng, 4, 3));
        using var x = Var.Constant(Rand(be, rng, 2, 3));
        using var a = Var.Parameter(Rand(be, rng, 2, 3), "A");
        using var b = Var.Parameter(Tensor.Zeros(be, 4, 2), "B");   // PEFT initialises B = 0
        using var tape = new Tape(be);
        var loss = tape.Sum(tape.LoraLinear(x, w0, a, b, 1f));
        tape.Backward(loss);
        Assert.Null(x.Grad);
        Assert.NotNull(b.Grad);
        Assert.All(a.Grad!.ToArray<float>(), g => Assert.Equal(0f, g));   // B = 0 ⇒ dA = 0 on the first step, as in PEFT
    }
}
