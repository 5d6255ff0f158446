using LoRAM.Data;
using LoRAM.Llama.Tests.Support;

namespace LoRAM.Tests.Data;

/// <summary>Text a model has not seen: the generator is sequential, so a corpus that skips the first K characters of
/// the stream starts exactly where a pre-training corpus of K characters of the same seed ends.</summary>
public sealed class CorpusPrefixTests : IDisposable
{
    private readonly TempFolder _dir = new();
    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(5_000L)]
    [InlineData(123_457L)]
    public void Within_is_the_generators_own_prefix_and_after_is_the_rest_of_the_stream(long chars)
    {
        var generator = new CorpusGenerator(World.Generate(1), 1);
        var prefix = generator.Documents(chars).ToList();
        Assert.Equal(prefix, CorpusPrefix.Within(generator.Documents(), chars));
        Assert.Equal(generator.Documents().Skip(prefix.Count).Take(20), CorpusPrefix.After(generator.Documents(), chars).Take(20));
    }

    [Fact]
    public void The_data_corpus_after_a_skip_starts_right_after_the_prefix_in_the_full_stream()
    {
        const long skip = 60_000, size = 25_000;
        var report = DataGeneration.Run(new DataOptions { Out = _dir.File("data"), Seed = 1, CorpusChars = size, CorpusSkipChars = skip, Instructions = 1, EvalSize = 1 });

        // The whole stream as one corpus.txt, and the pre-training prefix as another (what `loram data --corpus-chars
        // skip` writes): the skipped corpus is the full text from just after the prefix and its blank-line separator.
        var generator = new CorpusGenerator(World.Generate(1), 1);
        string full = Written("full.txt", generator.Documents(skip + size + 10_000));
        string prefix = Written("prefix.txt", generator.Documents(skip));
        string corpus = File.ReadAllText(Path.Combine(report.Directory, DataGeneration.Corpus)).TrimEnd('\n');
        Assert.True(prefix.Length <= skip && prefix.Length > skip - 2_000, $"prefix {prefix.Length} characters");
        Assert.StartsWith(prefix + "\n\n", full);
        Assert.Equal(full.Substring(prefix.Length + 2, corpus.Length), corpus);
        Assert.Equal("\n\n", full.Substring(prefix.Length + 2 + corpus.Length, 2));   // whole documents, the next one is cut
        Assert.InRange(corpus.Length, size - 2_000, size);
        Assert.Equal(report.CorpusChars, corpus.Length + 1);

        // Without a skip, the corpus is the prefix itself.
        var start = DataGeneration.Run(new DataOptions { Out = _dir.File("start"), Seed = 1, CorpusChars = skip, Instructions = 1, EvalSize = 1 });
        Assert.Equal(prefix, File.ReadAllText(Path.Combine(start.Directory, DataGeneration.Corpus)).TrimEnd('\n'));
    }

    private string Written(string name, IEnumerable<string> documents)
    {
        PlainTextCorpus.Write(_dir.File(name), documents);
        return File.ReadAllText(_dir.File(name)).TrimEnd('\n');
    }
}
