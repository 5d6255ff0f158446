using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Tensors;
using LoRAM.Training;

namespace LoRAM.Tests.Training;

/// <summary>A tiny byte-level LLaMA and corpus for trainer tests (each run well under a second per step).</summary>
internal static class TinyTraining
{
    public static LlamaConfig Config(int layers = 2) => LlamaConfig.Parse("""
        {"hidden_size": 32, "num_hidden_layers": LAYERS, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
         "intermediate_size": 64, "vocab_size": 259, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
         "bos_token_id": 256, "eos_token_id": 257}
        """.Replace("LAYERS", layers.ToString()));

    /// <summary>Repetitive English-like documents: learnable in a few dozen steps.</summary>
    public static List<string> Documents(int count = 60)
    {
        string[] names = ["Ada", "Bram", "Cleo", "Dirk", "Elsa", "Finn"];
        string[] towns = ["Oakford", "Millbrook", "Stonevale"];
        var docs = new List<string>();
        for (int i = 0; i < count; i++)
            docs.Add($"{names[i % names.Length]} lives in {towns[i % towns.Length]}. {names[(i + 1) % names.Length]} visits {towns[(i + 2) % towns.Length]} " +
                     $"every day. {i % 10} + {i % 7} = {i % 10 + i % 7}.");
        return docs;
    }

    public static int[] Stream() => PackedCorpus.Tokenize(Documents(), new ByteTokenizer());

    public static LlamaModel Model(Backend backend, int seed = 1, LlamaConfig? config = null)
    {
        using var w = LlamaInitializer.Create(config ?? Config(), backend, seed);
        return LlamaModel.FromWeights(w, backend, new LlamaModelOptions { Trainable = true });
    }

    public static TrainableModel Trainable(LlamaModel model, LlamaConfig? config = null) => new()
    {
        Parameters = model.Parameters().ToList(),
        Forward = (tape, ids) => model.Forward(tape, ids),
        WriteFolderFiles = folder =>
        {
            (config ?? model.Config).Save(Path.Combine(folder, ModelFolder.Config));
            File.WriteAllText(Path.Combine(folder, ByteTokenizer.FileName), "{\"type\": \"byte\"}");
        },
    };

    public static TrainerOptions Options(string output, int steps) => new()
    {
        Steps = steps, BatchSequences = 4, MicroBatchSequences = 2, LearningRate = 1e-2, WarmupSteps = 2, OutputFolder = output, LogEvery = 0,
    };

    public static float[][] Weights(LlamaModel model) => model.Parameters().Select(p => p.Value.ToFloatArray()).ToArray();
}
