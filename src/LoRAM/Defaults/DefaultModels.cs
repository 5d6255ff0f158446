using System.Reflection;
using LoRAM.Llama;

namespace LoRAM.Defaults;

/// <summary>
/// The embedded default model family's configs (src/LoRAM/Defaults/*.json, embedded in the tool): <c>base</c>, the
/// paper's LLaMA-2-13B analog, and <c>sibling</c>, its smaller 7B analog. See Defaults/README.md for how they were sized.
/// </summary>
public static class DefaultModels
{
    public static readonly IReadOnlyList<string> Names = ["base", "sibling"];

    /// <summary>Characters of seed 1's generated corpus the shipped family (models/) was pre-trained on: models/recipe.sh's
    /// <c>loram data --corpus-chars</c> (its report.json does not record it). The generator is sequential, so the text
    /// after them (<see cref="Data.CorpusPrefix.After"/>) is text neither model has seen.</summary>
    public const long PretrainingCorpusChars = 8_000_000;

    /// <summary>The config.json text of default model <paramref name="name"/>, or null if there is none of that name.</summary>
    public static string? ConfigJson(string name)
    {
        if (!Names.Contains(name)) return null;
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream($"LoRAM.Defaults.{name}.json")
                      ?? throw new InvalidOperationException($"the embedded config '{name}.json' is missing from the build");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    public static LlamaConfig Config(string name) =>
        LlamaConfig.Parse(ConfigJson(name) ?? throw new ArgumentException($"no default model '{name}' (known: {string.Join(", ", Names)})"), $"embedded {name}.json");
}
