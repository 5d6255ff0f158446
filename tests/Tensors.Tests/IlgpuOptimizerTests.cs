using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>One AdamW step against float64 (torch.optim.AdamW's formula) and the CPU backend.
/// Bound: |err| ≤ 1e-6 + 1e-5·|expected| (a square root and a few float32 roundings).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuOptimizerTests(IlgpuFixture f)
{
    [Fact]
    public void AdamW_step_matches_float64_and_the_cpu_backend()
    {
        const int n = 1001;
        float[] p = RandomValues(n, 90), g = RandomValues(n, 91), m = RandomValues(n, 92, 0.1), v = RandomValues(n, 93, 0.01).Select(Math.Abs).ToArray();
        const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f, bc1 = 1 - 0.9f * 0.9f * 0.9f, bc2 = 1 - 0.999f * 0.999f * 0.999f;
        using var tp = f.Up(p, n);
        using var tg = f.Up(g, n);
        using var tm = f.Up(m, n);
        using var tv = f.Up(v, n);
        f.Gpu.AdamW(tp, tg, tm, tv, lr, b1, b2, eps, wd, bc1, bc2);
        var (ep, em, ev) = AdamW(p, g, m, v, lr, b1, b2, eps, wd, bc1, bc2);
        AssertClose(ep, tp.ToArray<float>(), 1e-5, 1e-6, "p");
        AssertClose(em, tm.ToArray<float>(), 1e-5, 1e-7, "m");
        AssertClose(ev, tv.ToArray<float>(), 1e-5, 1e-9, "v");

        using var cp = f.UpCpu(p, n);
        using var cg = f.UpCpu(g, n);
        using var cm = f.UpCpu(m, n);
        using var cv = f.UpCpu(v, n);
        f.Cpu.AdamW(cp, cg, cm, cv, lr, b1, b2, eps, wd, bc1, bc2);
        AssertClose(cp.ToArray<float>(), tp.ToArray<float>(), 1e-5, 1e-6, "p vs cpu");
    }
}
