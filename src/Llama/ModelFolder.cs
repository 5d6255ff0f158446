namespace LoRAM.Llama;

/// <summary>The files of a Hugging Face model folder that LoRAM reads and writes.</summary>
public static class ModelFolder
{
    public const string Config = "config.json";
    public const string Weights = "model.safetensors";
    public const string WeightsIndex = "model.safetensors.index.json";

    /// <summary>Tokenizer files copied along when a model is saved to a new folder.</summary>
    public static readonly string[] TokenizerFiles =
        ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "loram_tokenizer.json"];

    /// <summary>Copies every tokenizer file of <paramref name="from"/> into <paramref name="to"/>; returns the names copied.</summary>
    public static IReadOnlyList<string> CopyTokenizerFiles(string from, string to)
    {
        var copied = new List<string>();
        if (Path.GetFullPath(from) == Path.GetFullPath(to)) return copied;
        Directory.CreateDirectory(to);
        foreach (var name in TokenizerFiles)
        {
            var src = Path.Combine(from, name);
            if (!File.Exists(src)) continue;
            AtomicFile.Copy(src, Path.Combine(to, name));
            copied.Add(name);
        }
        return copied;
    }
}
