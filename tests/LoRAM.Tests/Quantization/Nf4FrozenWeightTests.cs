using LoRAM.Autograd;
using LoRAM.Quantization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Tests.Quantization;

/// <summary>
/// QLoRA through the unchanged LoRA op: Ops.LoraLinear over an <see cref="Nf4FrozenWeight"/> gives the same y, dx, dA
/// and dB as over a <see cref="DenseFrozenWeight"/> holding the float32 dequantization Ŵ. Bound: |err| ≤ 1e-5·(1 + |e|)
/// elementwise relative to the largest magnitude — both compute the same float32 sums in different orders (k ≤ 192).
/// </summary>
public class Nf4FrozenWeightTests
{
    public static TheoryData<string> Backends => new() { "cpu", "ilgpu-cpu" };

    [Theory, MemberData(nameof(Backends))]
    public void Lora_linear_over_nf4_equals_lora_linear_over_the_dequantized_dense_weight(string backend)
    {
        using Backend be = backend == "cpu" ? new CpuBackend(2) : IlgpuBackend.CreateCpu();
        var rng = new Random(11);
        int n = backend == "cpu" ? 21 : 9, inF = 192, outF = 45, r = 4;   // n = 9 > 4: the tiled kernel; a few rows in the decode test below
        float[] w = Uniform(rng, outF * inF, 0.1f);
        var q = Nf4Quantizer.Quantize(w, outF, inF, doubleQuantization: true);
        using var nf4 = Nf4FrozenWeight.Upload(be, q);
        using var dense = new DenseFrozenWeight(Tensor.FromArray(be, q.Dequantize(), outF, inF));
        Assert.Equal(MemoryCategory.FrozenNF4, nf4.Category);
        Assert.Equal(outF * inF / 2 + outF * inF / 64 * 4, nf4.Bytes);   // codes + float32 scales: 4.5 bits per weight

        foreach (int rows in new[] { n, 3 })
        {
            float[] xh = Uniform(rng, rows * inF, 1f), ah = Uniform(rng, r * inF, 0.5f), bh = Uniform(rng, outF * r, 0.5f), dyh = Uniform(rng, rows * outF, 1f);
            var viaNf4 = Run(be, nf4, rows, inF, outF, r, xh, ah, bh, dyh);
            var viaDense = Run(be, dense, rows, inF, outF, r, xh, ah, bh, dyh);
            string[] what = ["y", "dx", "dA", "dB"];
            for (int i = 0; i < what.Length; i++) AssertClose(viaDense[i], viaNf4[i], 1e-5, $"{what[i]} ({rows} rows)");
        }
    }

    private static float[][] Run(Backend be, FrozenWeight w0, int n, int inF, int outF, int r, float[] xh, float[] ah, float[] bh, float[] dyh)
    {
        using var x = Var.Parameter(Tensor.FromArray(be, xh, n, inF), "x");
        using var a = Var.Parameter(Tensor.FromArray(be, ah, r, inF), "A");
        using var b = Var.Parameter(Tensor.FromArray(be, bh, outF, r), "B");
        using var tape = new Tape(be);
        var y = tape.LoraLinear(x, w0, a, b, 2f);
        var yv = y.Value.ToArray<float>();
        using var dy = Tensor.FromArray(be, dyh, n, outF);
        tape.Backward(y, dy);
        return [yv, x.Grad!.ToArray<float>(), a.Grad!.ToArray<float>(), b.Grad!.ToArray<float>()];
    }

    internal static float[] Uniform(Random rng, int count, float scale)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return v;
    }

    /// <summary>|e − a| ≤ tol·max(1, max|e|) everywhere.</summary>
    internal static void AssertClose(float[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(1, expected.Max(v => Math.Abs((double)v)));
        for (int i = 0; i < expected.Length; i++)
            if (Math.Abs(expected[i] - actual[i]) > tol * scale)
                Assert.Fail($"{what}[{i}]: {actual[i]:R} vs {expected[i]:R} (tolerance {tol * scale:E2})");
    }
}
