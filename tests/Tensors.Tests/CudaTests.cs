using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>
/// The kernels on a real NVIDIA GPU. The ILGPU tests run the same kernels on ILGPU's CPU accelerator everywhere; these
/// run them through CUDA where a GPU is present (filter with <c>--filter Device=cuda</c>). Without one they are not
/// skipped: they assert that the machine honestly has no CUDA — the backend is refused with its one-line reason, and
/// the default device is the CPU.
/// </summary>
[Trait("Device", "cuda")]
public sealed class CudaTests
{
    [Fact]
    public void Cuda_runs_the_gemm_kernel_like_float64_or_is_refused_where_there_is_no_gpu()
    {
        if (!IlgpuBackend.CudaAvailable)
        {
            var e = Assert.Throws<InvalidOperationException>(() => Backends.Create(Device.Cuda));
            Assert.Equal("device 'cuda' requested but no NVIDIA GPU with a working driver was found", e.Message);
            Assert.Equal("cpu", Backends.Name(Device.Auto));
            return;
        }
        using var gpu = (IlgpuBackend)Backends.Create(Device.Cuda);
        Assert.Equal("cuda", gpu.Name);
        const int m = 65, n = 130, k = 77;
        float[] a = RandomValues(m * k, 30), b = RandomValues(n * k, 31), c = RandomValues(m * n, 32);
        using var ta = Tensor.FromArray(gpu, a, m, k);
        using var tb = Tensor.FromArray(gpu, b, n, k);
        using var tc = Tensor.FromArray(gpu, c, m, n);
        gpu.Gemm(ta, false, tb, true, tc, 0.75f, 0.5f);
        AssertClose(Gemm(a, false, b, true, c, 1, m, n, k, alpha: 0.75, beta: 0.5), tc.ToArray<float>(), 1e-5, 2e-5 * Math.Sqrt(k), "CUDA C vs float64");
    }

    [Fact]
    public void Cuda_and_the_cpu_backend_agree_on_a_softmax_or_cuda_is_absent_and_the_cpu_is_the_default()
    {
        using var cpu = new CpuBackend(1);
        if (!IlgpuBackend.CudaAvailable)
        {
            using var auto = Backends.Create(Device.Auto);
            Assert.IsType<CpuBackend>(auto);
            return;
        }
        using var gpu = Backends.Create(Device.Cuda);
        float[] x = RandomValues(7 * 300, 33, scale: 4);
        using var gx = Tensor.FromArray(gpu, x, 7, 300);
        using var cx = Tensor.FromArray(cpu, x, 7, 300);
        using var gy = Tensor.Zeros(gpu, 7, 300);
        using var cy = Tensor.Zeros(cpu, 7, 300);
        gpu.Softmax(gx, gy);
        cpu.Softmax(cx, cy);
        AssertClose(cy.ToArray<float>(), gy.ToArray<float>(), 1e-5, 1e-6, "CUDA softmax vs CPU");
    }
}
