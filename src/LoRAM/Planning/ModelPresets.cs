using LoRAM.Llama;

namespace LoRAM.Planning;

/// <summary>
/// The published shapes of the paper's models (their Hugging Face config.json fields), so the planner needs no
/// weights: LLaMA-2-7B/13B/70B and LLaMA-3.1-8B/70B, and two small real shapes to measure on one machine,
/// SmolLM-135M (HuggingFaceTB/SmolLM-135M: GQA 9/3 heads, tied embeddings) and TinyLlama-1.1B (GQA 32/4). <c>base</c> names the shipped model <c>models/base</c>,
/// found by walking up from the current folder.
/// </summary>
public static class ModelPresets
{
    public static readonly string[] Names = ["smollm-135m", "tinyllama-1.1b", "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "base"];

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
        "smollm-135m" => new LlamaConfig
        {
            HiddenSize = 576, NumHiddenLayers = 30, NumAttentionHeads = 9, NumKeyValueHeads = 3, IntermediateSize = 1536,
            VocabSize = 49152, HeadDim = 64, RmsNormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 2048,
            TieWordEmbeddings = true, BosTokenId = 0, EosTokenIds = [0], TorchDtype = "bfloat16",
        },
        "tinyllama-1.1b" => new LlamaConfig
        {
            HiddenSize = 2048, NumHiddenLayers = 22, NumAttentionHeads = 32, NumKeyValueHeads = 4, IntermediateSize = 5632,
            VocabSize = 32000, HeadDim = 64, RmsNormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 2048,
            BosTokenId = 1, EosTokenIds = [2], TorchDtype = "bfloat16",
        },
        "llama-2-7b" => Llama2(4096, 32, 32, 32, 11008),
        "llama-2-13b" => Llama2(5120, 40, 40, 40, 13824),
        "llama-2-70b" => Llama2(8192, 80, 64, 8, 28672),
        "llama-3.1-8b" => Llama31(4096, 32, 32, 14336),
        "llama-3.1-70b" => Llama31(8192, 80, 64, 28672),
        "base" => LlamaConfig.Load(FindShipped("base")),
        _ => null,
    };

    /// <summary>A config.json path, a model folder, or a built-in name; anything else is bad input naming the choices.</summary>
    public static LlamaConfig Resolve(string name)
    {
        try
        {
            if (File.Exists(name)) return LlamaConfig.Load(name);
            if (Directory.Exists(name)) return LlamaConfig.Load(Path.Combine(name, ModelFolder.Config));
            return Get(name) ?? throw new UserInputException($"--config '{name}' is neither a file, a folder nor a built-in name ({string.Join(", ", Names)})");
        }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        catch (FileNotFoundException e) { throw new UserInputException(e.Message, e); }
    }

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
