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
    private const long TrainingChars = 8_000_000;

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
            return Benchmarks.TextPerplexity(model, Tokenizers.Load(Path.Combine(models, name)), unseen).MeanNll;
        }
        double baseNll = Nll("base"), siblingNll = Nll("sibling");

        // Measured when the family was made (models/README.md, 100 documents): 0.265 vs 0.364 nats per byte.
        Assert.InRange(baseNll, 0.05, 1.0);
        Assert.True(baseNll < 0.85 * siblingNll, $"base {baseNll:F4} vs sibling {siblingNll:F4} nats/byte");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LoRAM.sln"))) return dir.FullName;
        throw new InvalidOperationException($"LoRAM.sln not found above {AppContext.BaseDirectory}");
    }
}
