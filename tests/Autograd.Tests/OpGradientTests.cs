using LoRAM.Tensors;
using static LoRAM.Autograd.Tests.GradCheck;

namespace LoRAM.Autograd.Tests;

/// <summary>
/// Every op's backward against a float64 central finite difference of its float32 forward (see <see cref="GradCheck"/>).
/// Bound: relative error ≤ 2e-2 (h = 1e-2; float32 rounding of the forward over h and the O(h²) truncation stay
/// well below it, while a wrong term in a backward formula gives errors of order 1).
/// </summary>
public class OpGradientTests
{
    private const double Tol = 2e-2;

    private static void Check(string backend, Func<Tape, Var[], Var> f, params (int Seed, int[] Shape)[] inputs) =>
        CheckScaled(backend, f, 1f, inputs);

    private static void CheckScaled(string backend, Func<Tape, Var[], Var> f, float scale, params (int Seed, int[] Shape)[] inputs)
    {
        using var be = TestBackends.Create(backend);
        var xs = inputs.Select(i => Uniform(new Random(i.Seed), (int)Tensor.Elements(i.Shape), scale)).ToArray();
        double err = Error(be, f, xs, inputs.Select(i => i.Shape).ToArray());
        Assert.True(err < Tol, $"relative gradient error {err:E3} ≥ {Tol}");
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Linear_with_frozen_bf16_weight_passes_gradient_to_input_only(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var w32 = Rand(be, new Random(3), 5, 7);
        using var w = new DenseFrozenWeight(w32.Cast(DType.BF16));
        var xs = new[] { Uniform(new Random(1), 3 * 2 * 7) };
        double err = Error(be, (t, v) => t.Linear(v[0], w), xs, [[3, 2, 7]]);
        Assert.True(err < Tol, $"error {err:E3}");
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Linear_with_trainable_weight(string backend) =>
        Check(backend, (t, v) => t.Linear(v[0], v[1]), (1, [4, 6]), (2, [3, 6]));

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void MatMul_batched_with_every_transpose(string backend)
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
            Check(backend, (t, v) => t.MatMul(v[0], v[1], ta, tb),
                (1, ta ? [2, 4, 3] : [2, 3, 4]), (2, tb ? [2, 5, 4] : [2, 4, 5]));
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void MatMul_with_broadcast_right_operand_sums_its_gradient(string backend)
    {
        Check(backend, (t, v) => t.MatMul(v[0], v[1]), (1, [3, 2, 4]), (2, [4, 5]));
        Check(backend, (t, v) => t.MatMul(v[0], v[1], false, true), (1, [3, 2, 4]), (2, [5, 4]));
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Elementwise_add_sub_mul_scale(string backend)
    {
        Check(backend, (t, v) => t.Add(v[0], v[1]), (1, [3, 4]), (2, [3, 4]));
        Check(backend, (t, v) => t.Sub(v[0], v[1]), (1, [3, 4]), (2, [3, 4]));
        Check(backend, (t, v) => t.Mul(v[0], v[1]), (1, [3, 4]), (2, [3, 4]));
        Check(backend, (t, v) => t.Scale(v[0], -0.7f), (1, [3, 4]));
        Check(backend, (t, v) => t.Mul(v[0], v[0]), (1, [3, 4]));   // a value used twice: gradients sum
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void MaskedMul_sum_and_mean(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var mask = Tensor.FromArray(be, [1f, 0f, 1f, 1f, 0f, 0f, 1f, 0f, 1f, 1f, 1f, 0f], 3, 4);
        double err = Error(be, (t, v) => t.MaskedMul(v[0], mask), [Uniform(new Random(1), 12)], [[3, 4]]);
        Assert.True(err < Tol, $"error {err:E3}");
        Check(backend, (t, v) => t.Sum(v[0]), (1, [3, 4]));
        Check(backend, (t, v) => t.Mean(v[0]), (1, [3, 4]));
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Silu_swiglu_softmax(string backend)
    {
        CheckScaled(backend, (t, v) => t.Silu(v[0]), 3f, (1, [3, 5]));
        CheckScaled(backend, (t, v) => t.SwiGlu(v[0], v[1]), 3f, (1, [3, 5]), (2, [3, 5]));
        CheckScaled(backend, (t, v) => t.Softmax(v[0]), 3f, (1, [3, 6]));
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Dropout_backward_reuses_the_forward_mask(string backend) =>
        Check(backend, (t, v) => t.Dropout(v[0], 0.3f, 42), (1, [4, 8]));

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void RmsNorm_input_and_weight(string backend) =>
        Check(backend, (t, v) => t.RmsNorm(v[0], v[1], 1e-5f), (1, [3, 8]), (2, [8]));

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Rope_backward_is_the_inverse_rotation(string backend)
    {
        using var be = TestBackends.Create(backend);
        var (cos, sin) = Ops.RopeTables(be, 16, 8);
        using var _c = cos; using var _s = sin;
        using var positions = Tensor.FromArray(be, [0, 3, 4, 9, 1, 15], 6);
        double err = Error(be, (t, v) => t.Rope(v[0], cos, sin, positions), [Uniform(new Random(1), 2 * 3 * 2 * 8)], [[2, 3, 2, 8]]);
        Assert.True(err < Tol, $"error {err:E3}");
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Embedding_scatters_gradient_into_repeated_rows(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var ids = Tensor.FromArray(be, [2, 0, 2, 4, 1, 2], 2, 3);
        double err = Error(be, (t, v) => t.Embedding(v[0], ids), [Uniform(new Random(1), 5 * 4)], [[5, 4]]);
        Assert.True(err < Tol, $"error {err:E3}");
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Reshape_and_transpose(string backend)
    {
        Check(backend, (t, v) => t.Mul(t.Reshape(v[0], 4, 3), v[1]), (1, [3, 4]), (2, [4, 3]));
        Check(backend, (t, v) => t.Transpose(v[0]), (1, [2, 3, 4]));
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Causal_gqa_attention(string backend)
    {
        // B = 2, T = S = 4, 4 query heads sharing 2 key/value heads, D = 4; then a query block T = 2 over S = 4 keys.
        Check(backend, (t, v) => t.Attention(v[0], v[1], v[2]), (1, [2, 4, 4, 4]), (2, [2, 4, 2, 4]), (3, [2, 4, 2, 4]));
        Check(backend, (t, v) => t.Attention(v[0], v[1], v[2]), (1, [1, 2, 4, 4]), (2, [1, 4, 2, 4]), (3, [1, 4, 2, 4]));
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Cross_entropy_averages_over_non_ignored_targets(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var targets = Tensor.FromArray(be, [3, Ops.IgnoreIndex, 0, 5, Ops.IgnoreIndex], 5);
        double err = Error(be, (t, v) => t.CrossEntropy(v[0], targets), [Uniform(new Random(1), 5 * 6, 3f)], [[5, 6]]);
        Assert.True(err < Tol, $"error {err:E3}");
    }

    [Theory, MemberData(nameof(TestBackends.Names), MemberType = typeof(TestBackends))]
    public void Lora_linear_gradients_for_input_a_and_b(string backend)
    {
        using var be = TestBackends.Create(backend);
        using var w0 = new DenseFrozenWeight(Rand(be, new Random(9), 6, 5).Cast(DType.BF16));
        using var mask = Tensor.FromArray(be, Uniform(new Random(10), 30).Select(u => u > 0 ? 1f : 0f).ToArray(), 6, 5);
        var xs = new[] { Uniform(new Random(1), 4 * 5), Uniform(new Random(2), 2 * 5), Uniform(new Random(3), 6 * 2) };
        int[][] shapes = [[4, 5], [2, 5], [6, 2]];
        foreach (var (m, p) in new (Tensor?, float)[] { (null, 0f), (mask, 0f), (null, 0.25f), (mask, 0.25f) })
        {
            double err = Error(be, (t, v) => t.LoraLinear(v[0], w0, v[1], v[2], 2f, p, 5, m), xs, shapes);
            Assert.True(err < Tol, $"mask {m is not null}, dropout {p}: error {err:E3}");
        }
    }
}
