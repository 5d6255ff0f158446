using System.CommandLine;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Cli;

/// <summary><c>loram devices</c>: which backends this machine offers and which one is the default.</summary>
internal static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List the compute backends available on this machine.");
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"cpu        SIMD C#, {CpuBackend.ThreadsFromEnvironment()} threads (LORAM_THREADS)");
            output.WriteLine($"ilgpu-cpu  ILGPU kernels on ILGPU's CPU accelerator (kernel testing)");
            output.WriteLine($"cuda       {(IlgpuBackend.CudaAvailable ? "NVIDIA GPU found" : "not available (no NVIDIA GPU or driver)")}");
            var env = Environment.GetEnvironmentVariable("LORAM_DEVICE");
            output.WriteLine($"default    {(string.IsNullOrEmpty(env) ? (IlgpuBackend.CudaAvailable ? "cuda" : "cpu") : env + " (LORAM_DEVICE)")}");
            return 0;
        });
        return command;
    }
}
