using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Lora;
using LoRAM.Quantization;
using LoRAM.Tensors;

namespace LoRAM;

/// <summary>Opens a model folder the way every job does: a dense or NF4 (<c>loram quantize</c>) Hugging Face folder,
/// optionally with a PEFT adapter attached; a missing folder or a bad checkpoint is bad input, one line.</summary>
public static class ModelLoader
{
    /// <summary>Loads a model folder for inference, with the adapter of <paramref name="adapterFolder"/> attached when given
    /// (the adapter then belongs to the model: disposing the model frees it).</summary>
    public static LlamaModel Load(string folder, Backend backend, string? adapterFolder)
    {
        var model = Load(folder, backend);
        if (adapterFolder is null) return model;
        try
        {
            if (!Directory.Exists(adapterFolder)) throw new UserInputException($"{adapterFolder}: no such adapter folder");
            LoraAdapter.Load(adapterFolder, model);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model folder (frozen weights in their stored dtype; NF4 projections of a quantized folder as such).</summary>
    public static LlamaModel Load(string folder, Backend backend, LlamaModelOptions? options = null)
    {
        if (!Directory.Exists(folder)) throw new UserInputException($"{folder}: no such model folder");
        if (!File.Exists(Path.Combine(folder, ModelFolder.Config))) throw new UserInputException($"{folder}: not a model folder (no config.json)");
        // A quantized folder (loram quantize) loads its NF4 projections as such: QLoRAM's frozen base.
        if (QuantizedCheckpoint.IsQuantized(folder))
            options = (options ?? new LlamaModelOptions()) with { LinearLoader = QuantizedCheckpoint.TryLoadLinear };
        try { return LlamaModel.Load(folder, backend, options); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
    }
}
