using System.Runtime.Intrinsics;

namespace LoRAM.Tensors.Cpu;

public sealed unsafe partial class CpuBackend
{
    // AdamW (Loshchilov & Hutter 2019) in torch.optim.AdamW's order of operations:
    // p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← p − (lr/bc1)·m / (√v/√bc2 + eps),
    // which is the contract's p − lr·(wd·p + (m/bc1)/(√(v/bc2) + eps)).
    protected override void AdamWCore(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
        float eps, float weightDecay, float biasCorrection1, float biasCorrection2)
    {
        float* pp = Ptr<float>(param), pg = Ptr<float>(grad), pm = Ptr<float>(m), pv = Ptr<float>(v);
        float decay = 1f - lr * weightDecay, step = lr / biasCorrection1, rootBc2 = 1f / MathF.Sqrt(biasCorrection2);
        float b1c = 1f - beta1, b2c = 1f - beta2;
        ForElements(param.Length, (s, e) =>
        {
            var vDecay = Vector256.Create(decay);
            var vStep = Vector256.Create(step);
            var vRoot = Vector256.Create(rootBc2);
            var vEps = Vector256.Create(eps);
            var vb1 = Vector256.Create(beta1);
            var vb1c = Vector256.Create(b1c);
            var vb2 = Vector256.Create(beta2);
            var vb2c = Vector256.Create(b2c);
            int i = s;
            for (; i + 8 <= e; i += 8)
            {
                var g = Vector256.Load(pg + i);
                var mi = vb1 * Vector256.Load(pm + i) + vb1c * g;
                var vi = vb2 * Vector256.Load(pv + i) + vb2c * g * g;
                mi.Store(pm + i);
                vi.Store(pv + i);
                (Vector256.Load(pp + i) * vDecay - vStep * mi / (Vector256.Sqrt(vi) * vRoot + vEps)).Store(pp + i);
            }
            for (; i < e; i++)
            {
                float g = pg[i];
                float mi = beta1 * pm[i] + b1c * g, vi = beta2 * pv[i] + b2c * g * g;
                pm[i] = mi;
                pv[i] = vi;
                pp[i] = pp[i] * decay - step * mi / (MathF.Sqrt(vi) * rootBc2 + eps);
            }
        });
    }
}
