using System.Diagnostics;
using LoRAM.Llama;
using LoRAM.Tensors;

namespace LoRAM.Lora;

/// <summary>What <c>loram merge</c> is told: a base model, an adapter made for it, and where the merged model goes.</summary>
public sealed record MergeOptions
{
    /// <summary>Base model folder the adapter was made for (for LoRAM: the original, unpruned model).</summary>
    public required string Model { get; init; }
    /// <summary>PEFT LoRA adapter folder (for LoRAM: the recovered adapter).</summary>
    public required string Adapter { get; init; }
    /// <summary>Folder for the merged model (must be missing or empty).</summary>
    public required string Out { get; init; }

    /// <summary>Checks the options before any work; throws <see cref="UserInputException"/> naming the flag.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Model)) throw new UserInputException("--model must name a model folder");
        if (string.IsNullOrWhiteSpace(Adapter)) throw new UserInputException("--adapter must name an adapter folder");
        if (string.IsNullOrWhiteSpace(Out)) throw new UserInputException("--out must name a folder");
        if (Path.GetFullPath(Out).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(Model).TrimEnd(Path.DirectorySeparatorChar))
            throw new UserInputException("--out must differ from --model");
    }
}

/// <summary>What a merge did.</summary>
public sealed record MergeReport(string OutDir, int MergedModules, long AdapterParameters, double Seconds);

/// <summary>Folds a LoRA adapter into its base model, W = W0 + s·B·A, and writes a plain Hugging Face folder, whole or not at all.</summary>
public static class AdapterMerge
{
    public static MergeReport Run(MergeOptions o, Backend backend, Progress.IProgressReporter? progress = null)
    {
        o.Validate();
        var clock = Stopwatch.StartNew();
        if (Directory.Exists(o.Out) && Directory.EnumerateFileSystemEntries(o.Out).Any())
            throw new UserInputException($"{o.Out}: already exists and is not empty; choose another --out");
        if (File.Exists(o.Out)) throw new UserInputException($"{o.Out}: is a file, --out needs a folder");
        if (!Directory.Exists(o.Adapter)) throw new UserInputException($"{o.Adapter}: no such adapter folder");
        if (Quantization.QuantizedCheckpoint.IsQuantized(o.Model))
            throw new UserInputException($"{o.Model}: is NF4-quantized; merge into the original (dense) model, as LoRAM does");

        using var outputLock = OutputLock.Beside(o.Out);
        using var llama = ModelLoader.Load(o.Model, backend);
        var lora = LoraAdapter.Load(o.Adapter, llama);
        if (llama.Config.TieWordEmbeddings && lora.Layers.Any(l => l.Path == "lm_head"))
        {
            // The head is the embedding matrix: W_head + s·B·A cannot be written without changing the input embedding too,
            // and a tied folder has no lm_head.weight to hold it — the head's update would be silently dropped.
            lora.Detach();
            throw new UserInputException($"{o.Adapter}: adapts lm_head, but {o.Model} ties its head to the embedding (tie_word_embeddings true), so a merged folder cannot hold the head's update; serve the adapter unmerged (--adapter) or train without lm_head (--targets)");
        }
        int merged = lora.Layers.Count;
        long adapterParams = lora.ParameterCount;
        lora.MergeAndDetach();

        // Every tensor is written in the dtype the original stores it in: norms are computed in F32 but a BF16
        // checkpoint's gains stay BF16 (merged projections are already back in their stored dtype).
        Dictionary<string, DType> stored;
        using (var source = Llama.Safetensors.SafetensorsCheckpoint.Open(o.Model))
            stored = source.Names.Where(n => source[n].DType is not null).ToDictionary(n => n, n => source[n].DType!.Value);
        var full = Path.GetFullPath(o.Out);
        try { AtomicFolder.Write(full, tmp => { llama.Save(tmp, tokenizerFrom: o.Model, dtypeOf: n => stored.TryGetValue(n, out var d) ? d : null); return 0; }, progress is null ? null : progress.Line); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{o.Out}: cannot write the merged model ({e.Message})", e);
        }
        return new MergeReport(full, merged, adapterParams, clock.Elapsed.TotalSeconds);
    }
}
