using LoRAM.Llama;

namespace LoRAM.Planning;

/// <summary>
/// The published shapes of the paper's models (their Hugging Face config.json fields), so the planner needs no
/// weights: LLaMA-2-7B/13B/70B and LLaMA-3.1-8B/70B. <c>base</c> names the shipped model <c>models/base</c>,
/// found by walking up from the current folder.
/// </summary>
public static class ModelPresets
{
    public static readonly string[] Names = ["llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "base"];

    private static LlamaConfig Llama2(int hidden, int layers, int heads, int kvHeads, int intermediate) => new()
    {
        HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads,
        IntermediateSize = intermediate, VocabSize = 32000, HeadDim = hidden / heads, RmsNormEps = 1e-5,
        RopeTheta = 10000, MaxPositionEmbeddings = 4096, BosTokenId = 1, EosTokenIds = [2], TorchDtype = "float16",
    };

    private static LlamaConfig Llama31(int hidden, int layers, int heads, int intermediate) => new()
    {
        HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = heads, NumKeyValueHeads = 8,
        IntermediateSize = intermediate, VocabSize = 128256, HeadDim = hidden / heads, RmsNormEps = 1e-5,
        RopeTheta = 500000, RopeScaling = new RopeScaling(8, 1, 4, 8192), MaxPositionEmbeddings = 131072,
        BosTokenId = 128000, EosTokenIds = [128001, 128008, 128009], TorchDtype = "bfloat16",
    };

    /// <summary>The config of a built-in name, or null when <paramref name="name"/> is not one.</summary>
    /// <exception cref="FileNotFoundException"><c>base</c> was asked for but models/base/config.json is not above the current folder.</exception>
    public static LlamaConfig? Get(string name) => name.Trim().ToLowerInvariant() switch
    {
        "llama-2-7b" => Llama2(4096, 32, 32, 32, 11008),
        "llama-2-13b" => Llama2(5120, 40, 40, 40, 13824),
        "llama-2-70b" => Llama2(8192, 80, 64, 8, 28672),
        "llama-3.1-8b" => Llama31(4096, 32, 32, 14336),
        "llama-3.1-70b" => Llama31(8192, 80, 64, 28672),
        "base" => LlamaConfig.Load(FindShipped("base")),
        _ => null,
    };

    /// <summary>models/NAME/config.json in the current folder or the nearest parent that has one.</summary>
    private static string FindShipped(string name)
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "models", name, ModelFolder.Config);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"'{name}' is the shipped model models/{name}, but no models/{name}/config.json was found above {Directory.GetCurrentDirectory()}");
    }
}
