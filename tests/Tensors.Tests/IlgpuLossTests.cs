using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Cross-entropy with an ignore index, forward (losses, lse) and backward, against float64 and the CPU
/// backend. Bound: |err| ≤ 1e-5 + 1e-5·|expected| (exp/log of float32 row sums).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuLossTests(IlgpuFixture f)
{
    [Fact]
    public void Cross_entropy_and_its_backward_match_float64_with_ignored_rows()
    {
        const int n = 9, vocab = 301, ignore = -100;
        float[] logits = RandomValues(n * vocab, 80, 8);
        int[] targets = [5, ignore, 0, 300, 17, ignore, 150, 5, 299];
        using var tl = f.Up(logits, n, vocab);
        using var tt = f.Up(targets, n);
        using var losses = Tensor.Empty(f.Gpu, n);
        using var lse = Tensor.Empty(f.Gpu, n);
        using var dl = Tensor.Full(f.Gpu, float.NaN, n, vocab);
        f.Gpu.CrossEntropy(tl, tt, ignore, losses, lse);
        var (el, expectedLse) = CrossEntropy(logits, targets, n, vocab, ignore);
        AssertClose(el, losses.ToArray<float>(), 1e-5, 1e-5, "losses");
        AssertClose(expectedLse, lse.ToArray<float>(), 1e-5, 1e-5, "lse");
        f.Gpu.CrossEntropyBackward(tl, tt, lse, ignore, 0.25f, dl);
        AssertClose(CrossEntropyBackward(logits, targets, n, vocab, ignore, 0.25), dl.ToArray<float>(), 1e-5, 1e-6, "dlogits");

        using var cl = f.UpCpu(logits, n, vocab);
        using var ct = f.UpCpu(targets, n);
        using var closses = Tensor.Empty(f.Cpu, n);
        using var clse = Tensor.Empty(f.Cpu, n);
        f.Cpu.CrossEntropy(cl, ct, ignore, closses, clse);
        AssertClose(closses.ToArray<float>(), losses.ToArray<float>(), 1e-5, 1e-5, "losses vs cpu");
    }
}
