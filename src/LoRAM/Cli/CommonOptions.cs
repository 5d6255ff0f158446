using System.CommandLine;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Tensors;

namespace LoRAM.Cli;

/// <summary>Options several commands share, and turning them into a backend and a model with one-line errors.</summary>
internal static class CommonOptions
{
    public static Option<string?> Device() => new("--device")
    {
        Description = "Compute backend: cpu, cuda or ilgpu-cpu (default: LORAM_DEVICE, else CUDA when present, else cpu).",
    };

    public static Option<string> Model(string description = "Hugging Face LLaMA folder (config.json, *.safetensors, tokenizer).") =>
        new("--model") { Description = description, Required = true };

    public static Option<string?> Adapter() => new("--adapter")
    {
        Description = "PEFT LoRA adapter folder to apply (unmerged) on top of the model.",
    };

    public static Option<bool> Json(string description = "Print the result as JSON on stdout.") => new("--json") { Description = description };

    /// <summary>The dtype of a <c>--dtype</c> flag (f32 or bf16), parsed once here.</summary>
    public static DType ParseDType(string text) => text.Trim().ToLowerInvariant() switch
    {
        "f32" or "float32" => DType.F32,
        "bf16" or "bfloat16" => DType.BF16,
        _ => throw new UserInputException($"--dtype must be f32 or bf16, got '{text}'"),
    };

    public static string DTypeName(DType dtype) => dtype == DType.BF16 ? "bf16" : "f32";

    /// <summary>The backend of <c>--device</c>, else of <c>LORAM_DEVICE</c>, else the default. A bad name, or CUDA on a
    /// machine without a usable NVIDIA GPU, is bad input (one line, exit 2), named by where it came from.</summary>
    public static Backend OpenBackend(string? device)
    {
        string source = string.IsNullOrWhiteSpace(device) ? "LORAM_DEVICE" : "--device";
        string? name = string.IsNullOrWhiteSpace(device) ? Environment.GetEnvironmentVariable("LORAM_DEVICE") : device;
        Device parsed;
        try { parsed = Backends.Parse(name); }
        catch (ArgumentException e) { throw new UserInputException($"{source}: {e.Message}", e); }
        try { return Backends.Create(parsed); }
        catch (InvalidOperationException e) { throw new UserInputException($"{source}: {e.Message}", e); }
    }

    /// <summary>LORAM_THREADS, when set, must be a positive whole number; checked before any command runs.</summary>
    public static void CheckEnvironment()
    {
        var threads = Environment.GetEnvironmentVariable("LORAM_THREADS");
        if (!string.IsNullOrWhiteSpace(threads) && !(int.TryParse(threads, out int n) && n > 0))
            throw new UserInputException($"LORAM_THREADS must be a positive whole number of threads, got '{threads}'");
    }
}
