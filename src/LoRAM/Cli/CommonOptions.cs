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

    /// <summary>The backend of <c>--device</c> (or the default).</summary>
    public static Backend OpenBackend(string? device)
    {
        if (string.IsNullOrWhiteSpace(device)) return Backends.Create(Environment.GetEnvironmentVariable("LORAM_DEVICE"));
        try { return Backends.Create(device); }
        catch (ArgumentException e) { throw new UserInputException($"--device: {e.Message}", e); }
    }
}
