using LoRAM.Data;
using LoRAM.Evaluation;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Tests.Data;

/// <summary>The shipped family (models/) keeps the property the method's evaluation relies on: the base is the better model.</summary>
public sealed class ShippedModelsTests
{
    /// <summary>models/recipe.sh pre-trains both on the first 8,000,000 characters of seed 1's corpus.</summary>
    private const long TrainingChars = Defaults.DefaultModels.PretrainingCorpusChars;

    /// <summary>The pipeline's alignment text starts after the shipped family's pre-training corpus only while the constant
    /// it skips is the corpus size models/recipe.sh generates: retrain with another size and this names both.</summary>
    [Fact]
    public void The_pretraining_corpus_size_the_pipeline_skips_is_the_recipes()
    {
        string recipe = Path.Combine(RepositoryRoot(), "models", "recipe.sh");
        var data = File.ReadAllLines(recipe).Where(l => !l.TrimStart().StartsWith('#') && l.Contains(" data ") && l.Contains("--corpus-chars")).ToList();
        var line = Assert.Single(data);
        Assert.Contains("--seed 1 ", line + " ");
        long chars = long.Parse(System.Text.RegularExpressions.Regex.Match(line, @"--corpus-chars (\d+)").Groups[1].Value);
        Assert.True(chars == Defaults.DefaultModels.PretrainingCorpusChars,
            $"{recipe} generates {chars} characters, DefaultModels.PretrainingCorpusChars is {Defaults.DefaultModels.PretrainingCorpusChars}");
        Assert.Equal(Defaults.DefaultModels.PretrainingCorpusChars, new LoRAM.Pipeline.PipelineOptions { Models = "m", Out = "o" }.CorpusSkipChars);
    }

    [Fact]
    public void The_shipped_base_beats_the_sibling_on_corpus_documents_neither_has_seen()
    {
        string models = Path.Combine(RepositoryRoot(), "models");
        var generator = new CorpusGenerator(World.Generate(seed: 1), seed: 1);
        int seen = generator.Documents(TrainingChars).Count();
        var unseen = generator.Documents().Skip(seen).Take(30).ToList();   // the documents right after the training prefix

        using var cpu = new CpuBackend(2);
        double Nll(string name)
        {
            using var model = LlamaModel.Load(Path.Combine(models, name), cpu);
            // Windows of the 256 tokens both were trained on: longer ones measure RoPE extrapolation, not the models.
            return Benchmarks.TextPerplexity(model, Tokenizers.Load(Path.Combine(models, name)), unseen, maxLength: 256).MeanNll;
        }
        double baseNll = Nll("base"), siblingNll = Nll("sibling");

        // Measured when the family was made: 0.2254 vs 0.2358 nats per byte on these 30 documents (0.225 vs 0.241 on the
        // 200 of models/README.md), a ratio of 0.956.
        Assert.InRange(baseNll, 0.05, 1.0);
        Assert.True(baseNll < SiblingNllShare * siblingNll, $"base {baseNll:F4} vs sibling {siblingNll:F4} nats/byte");
    }

    /// <summary>The comparison the claim rests on can be built: LoRAM-Stru at the pipeline's default ratio trains a
    /// model with no more parameters than the sibling (the paper: 13B pruned to 6.0B against the 7B's 6.7B).</summary>
    [Fact]
    public void At_the_pipelines_default_ratio_the_pruned_base_is_no_larger_than_the_sibling()
    {
        string models = Path.Combine(RepositoryRoot(), "models");
        var o = new LoRAM.Pipeline.PipelineOptions { Models = models, Out = "" };
        var baseConfig = LoRAM.Llama.LlamaConfig.Load(Path.Combine(models, "base", "config.json"));
        var sibling = LoRAM.Llama.LlamaConfig.Load(Path.Combine(models, "sibling", "config.json"));
        var plan = LoRAM.Planning.ParameterPlan.For(baseConfig, LoRAM.Pruning.PruningMethod.Stru, o.Ratio, keepFirst: o.KeepFirst, keepLast: o.KeepLast);
        Assert.True(plan.PrunedParameters <= sibling.ParameterCount(), $"pruned base {plan.PrunedParameters:N0} > sibling {sibling.ParameterCount():N0}");
        Assert.True(sibling.ParameterCount() < 0.6 * baseConfig.ParameterCount(), "the sibling must stay clearly smaller than the base (7B vs 13B: 0.52)");
    }

    /// <summary>The base knows more of the world than the sibling: on the held-out notables of ranks 1–200 (the tail
    /// beyond is at chance for both), asked as the pipeline asks (<see cref="Benchmarks.Knowledge"/>, multiple choice
    /// through the chat template), before any fine-tuning, it is right more often.</summary>
    [Fact]
    public void The_shipped_base_knows_more_facts_than_the_sibling()
    {
        string models = Path.Combine(RepositoryRoot(), "models");
        var items = Notables.HeldOutQuestions(World.Generate(seed: 1).Notables, 1).Where(i => i.Rank <= 200).Take(200).ToList();
        using var cpu = new CpuBackend(2);
        double Accuracy(string name)
        {
            using var model = LlamaModel.Load(Path.Combine(models, name), cpu);
            return Benchmarks.Knowledge(model, Tokenizers.Load(Path.Combine(models, name)), items, exactMatch: false).Accuracy;
        }
        double baseAcc = Accuracy("base"), siblingAcc = Accuracy("sibling");
        // Measured when the family was made: 42.0 % vs 39.0 % on these 200 (all 1,600 held-out facts: 29.2 % vs 26.6 %,
        // models/README.md). A small gap, and the guard keeps it from vanishing unnoticed.
        Assert.True(baseAcc >= siblingAcc + KnowledgeMargin, $"base {baseAcc:P1} vs sibling {siblingAcc:P1} on 200 held-out facts of ranks 1–200");
    }

    private const double KnowledgeMargin = 0.02;
    private const double SiblingNllShare = 0.97;

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LoRAM.sln"))) return dir.FullName;
        throw new InvalidOperationException($"LoRAM.sln not found above {AppContext.BaseDirectory}");
    }
}
