using LoRAM.Defaults;
using LoRAM.Llama;
using LoRAM.Progress;
using LoRAM.Tensors;

namespace LoRAM.Training;

/// <summary>What <c>loram pretrain</c> is told: a config to initialise from, and the corpus schedule.</summary>
public sealed record PretrainOptions : CorpusTrainingOptions
{
    /// <summary>Model config.json, or the name of an embedded default (base, sibling).</summary>
    public required string Config { get; init; }
}

/// <summary>
/// Full-parameter pre-training of a LLaMA from random initialisation (<see cref="LlamaInitializer"/>) on a plain-text
/// corpus with the byte tokenizer: how the shipped family in models/ was made. OUT becomes a Hugging Face model
/// folder (config.json, model.safetensors, loram_tokenizer.json) plus loss.csv, report.json and checkpoints/.
/// </summary>
public static class Pretraining
{
    public const string ReportFile = CorpusTraining.ReportFile;

    public static CorpusTrainingReport Run(PretrainOptions o, Backend backend, IProgressReporter progress)
    {
        o.Validate();
        var config = LoadConfig(o.Config);
        var job = new CorpusTraining.Job("pretrain", config, o.Config, (b, options) =>
        {
            using var init = LlamaInitializer.Create(config, b, o.Seed);
            return Llama.Model.LlamaModel.FromWeights(init, b, options);
        })
        {
            // The initial model is the config and the seed (recorded by the trainer): the config's content decides it.
            Settings = [new RunSetting("--config (content)", File.Exists(o.Config) ? ContentHash.OfFile(o.Config) : "embedded:" + o.Config)],
        };
        return CorpusTraining.Run(o, job, backend, progress);
    }

    /// <summary>The model config: an embedded default by name, or a config.json path.</summary>
    public static LlamaConfig LoadConfig(string nameOrPath)
    {
        if (DefaultModels.Names.Contains(nameOrPath) && !File.Exists(nameOrPath)) return DefaultModels.Config(nameOrPath);
        if (!File.Exists(nameOrPath))
            throw new UserInputException($"{nameOrPath}: no such config file (or embedded default: {string.Join(", ", DefaultModels.Names)})");
        try { return LlamaConfig.Load(nameOrPath); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
    }
}
