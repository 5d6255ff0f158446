using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// AdamW (decoupled weight decay, as torch.optim.AdamW), one grid-stride pass over the parameters.
public sealed partial class IlgpuBackend
{
    internal struct AdamWParams
    {
        public float Lr, Beta1, Beta2, Eps, WeightDecay, BiasCorrection1, BiasCorrection2;
    }

    // m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p = p − lr·(wd·p + (m/bc1) / (√(v/bc2) + eps)).
    internal static void AdamWKernel(Index1D t, long n, int stride, AdamWParams h, ArrayView<float> p, ArrayView<float> g,
        ArrayView<float> m, ArrayView<float> v)
    {
        for (long i = t; i < n; i += stride)
        {
            float gi = g[i];
            float mi = h.Beta1 * m[i] + (1f - h.Beta1) * gi;
            float vi = h.Beta2 * v[i] + (1f - h.Beta2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            float pi = p[i];
            p[i] = pi - h.Lr * (h.WeightDecay * pi + mi / h.BiasCorrection1 / (XMath.Sqrt(vi / h.BiasCorrection2) + h.Eps));
        }
    }

    protected override void AdamWCore(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
        float eps, float weightDecay, float biasCorrection1, float biasCorrection2)
    {
        if (param.Length == 0) return;
        var h = new AdamWParams
        {
            Lr = lr, Beta1 = beta1, Beta2 = beta2, Eps = eps, WeightDecay = weightDecay,
            BiasCorrection1 = biasCorrection1, BiasCorrection2 = biasCorrection2,
        };
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, AdamWParams,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AdamWKernel));
        int threads = StrideThreads(param.Length);
        kernel(threads, param.Length, threads, h, View<float>(param), View<float>(grad), View<float>(m), View<float>(v));
    }
}
