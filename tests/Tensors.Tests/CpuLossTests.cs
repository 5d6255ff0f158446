using LoRAM.Tensors.Cpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Cross-entropy with an ignore index against float64. Bound: |err| ≤ 1e-6 + 1e-5·|expected|.</summary>
public class CpuLossTests
{
    private const int Ignore = -100;
    private readonly CpuBackend _cpu = new(2);

    [Theory]
    [InlineData(7, 37)]
    [InlineData(5, 1)]
    [InlineData(33, 3001)]
    public void CrossEntropy_and_its_backward_match_float64_and_skip_ignored_rows(int n, int vocab)
    {
        float[] logits = RandomValues(n * vocab, 90, 10);
        int[] targets = Enumerable.Range(0, n).Select(r => r % 3 == 1 ? Ignore : r * 7919 % vocab).ToArray();
        using var tl = Tensor.FromArray(_cpu, logits, n, vocab);
        using var tt = Tensor.FromArray(_cpu, targets, n);
        using var losses = Tensor.Empty(_cpu, n);
        using var lse = Tensor.Empty(_cpu, n);
        _cpu.CrossEntropy(tl, tt, Ignore, losses, lse);
        var (el, expectedLse) = CrossEntropy(logits, targets, n, vocab, Ignore);
        var lv = losses.ToArray<float>();
        AssertClose(el, lv, 1e-5, 1e-6, "losses");
        AssertClose(expectedLse, lse.ToArray<float>(), 1e-5, 1e-6, "lse");
        Assert.All(Enumerable.Range(0, n).Where(r => targets[r] == Ignore), r => Assert.Equal(0f, lv[r]));

        using var dl = Tensor.Full(_cpu, float.NaN, n, vocab);
        const float scale = 1f / 3;
        _cpu.CrossEntropyBackward(tl, tt, lse, Ignore, scale, dl);
        AssertClose(CrossEntropyBackward(logits, targets, n, vocab, Ignore, scale), dl.ToArray<float>(), 1e-5, 1e-6, "dlogits");
    }

    [Fact]
    public void Uniform_logits_cost_log_vocab()
    {
        const int vocab = 1000;
        using var tl = Tensor.Full(_cpu, 3f, 2, vocab);
        using var tt = Tensor.FromArray(_cpu, new[] { 5, 999 }, 2);
        using var losses = Tensor.Empty(_cpu, 2);
        using var lse = Tensor.Empty(_cpu, 2);
        _cpu.CrossEntropy(tl, tt, Ignore, losses, lse);
        AssertClose(new[] { Math.Log(vocab), Math.Log(vocab) }, losses.ToArray<float>(), 1e-6, 0, "log V");
    }
}
