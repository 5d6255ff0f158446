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

    public static Option<bool> Json() => new("--json") { Description = "Print the result as JSON on stdout." };

    /// <summary>The backend of <c>--device</c> (or the default).</summary>
    public static Backend OpenBackend(string? device)
    {
        if (string.IsNullOrWhiteSpace(device)) return Backends.Create(Environment.GetEnvironmentVariable("LORAM_DEVICE"));
        try { return Backends.Create(device); }
        catch (ArgumentException e) { throw new UserInputException($"--device: {e.Message}", e); }
    }

    /// <summary>Loads a model folder for inference, with the adapter of <paramref name="adapterFolder"/> attached when given
    /// (the adapter then belongs to the model: disposing the model frees it).</summary>
    public static LlamaModel LoadModel(string folder, Backend backend, string? adapterFolder)
    {
        var model = LoadModel(folder, backend);
        if (adapterFolder is null) return model;
        try
        {
            if (!Directory.Exists(adapterFolder)) throw new UserInputException($"{adapterFolder}: no such adapter folder");
            Lora.LoraAdapter.Load(adapterFolder, model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model folder for inference (frozen weights in their stored dtype).</summary>
    public static LlamaModel LoadModel(string folder, Backend backend, LlamaModelOptions? options = null)
    {
        if (!Directory.Exists(folder)) throw new UserInputException($"{folder}: no such model folder");
        if (!File.Exists(Path.Combine(folder, ModelFolder.Config))) throw new UserInputException($"{folder}: not a model folder (no config.json)");
        // A quantized folder (loram quantize) loads its NF4 projections as such: QLoRAM's frozen base.
        if (Quantization.QuantizedCheckpoint.IsQuantized(folder))
            options = (options ?? new LlamaModelOptions()) with { LinearLoader = Quantization.QuantizedCheckpoint.TryLoadLinear };
        try { return LlamaModel.Load(folder, backend, options); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
    }
}
