using LoRAM.Tests.Support;
using System.CommandLine;
using System.Text.Json;
using LoRAM.Cli;
using LoRAM.Data;

namespace LoRAM.Tests.Data;

public sealed class DataCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-datacmd-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(DataCommand.Create(), args);

    [Fact]
    public void Loram_data_writes_six_readable_files_and_a_json_summary()
    {
        var dir = Path.Combine(_dir, "out");
        var (code, output, _) = Run("data", "--out", dir, "--seed", "3", "--corpus-chars", "50000", "--instructions", "400", "--eval-size", "40", "--json");
        Assert.Equal(0, code);
        Assert.Equal(DataGeneration.FileNames.Order(), Directory.GetFiles(dir).Select(Path.GetFileName).Order()!); // no .tmp left behind

        using var summary = JsonDocument.Parse(output);
        Assert.Equal(400, summary.RootElement.GetProperty("instructions").GetInt32());
        Assert.Equal(new FileInfo(Path.Combine(dir, "corpus.txt")).Length, summary.RootElement.GetProperty("corpus_chars").GetInt64());
        Assert.InRange(summary.RootElement.GetProperty("corpus_chars").GetInt64(), 45_000, 50_001);

        var docs = PlainTextCorpus.Load(Path.Combine(dir, "corpus.txt"));
        Assert.Equal(summary.RootElement.GetProperty("corpus_documents").GetInt32(), docs.Count);
        Assert.Equal(400, AlpacaFile.Load(Path.Combine(dir, "instructions.jsonl")).Count);
        Assert.Equal(40, AlpacaFile.Load(Path.Combine(dir, "ppl-in.jsonl")).Count);
        Assert.Equal(40, AlpacaFile.Load(Path.Combine(dir, "ppl-out.jsonl")).Count);
        Assert.Equal(40, MultipleChoiceFile.Load(Path.Combine(dir, "mc.jsonl")).Count);
        Assert.Equal(40, Gsm8kFile.Load(Path.Combine(dir, "math.jsonl")).Count);
    }

    [Fact]
    public void Same_seed_writes_byte_identical_files()
    {
        Assert.Equal(0, Run("data", "--out", Path.Combine(_dir, "a"), "--corpus-chars", "20000", "--instructions", "100", "--eval-size", "20").Code);
        var (code, text, _) = Run("data", "--out", Path.Combine(_dir, "b"), "--corpus-chars", "20000", "--instructions", "100", "--eval-size", "20");
        Assert.Equal(0, code);
        Assert.Contains("corpus.txt", text);
        foreach (var f in DataGeneration.FileNames)
            Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "a", f)), File.ReadAllBytes(Path.Combine(_dir, "b", f)));
    }

    /// <summary>--corpus-skip-chars K: the corpus is the stream's text after a K-character corpus (held-out text for a model
    /// pre-trained on --corpus-chars K); the other files do not depend on it.</summary>
    [Fact]
    public void Corpus_skip_chars_starts_the_corpus_after_the_prefix_and_leaves_the_other_files_alone()
    {
        Assert.Equal(0, Run("data", "--out", Path.Combine(_dir, "whole"), "--corpus-chars", "30000", "--instructions", "10", "--eval-size", "5").Code);
        var (code, text, _) = Run("data", "--out", Path.Combine(_dir, "rest"), "--corpus-chars", "10000", "--corpus-skip-chars", "15000", "--instructions", "10", "--eval-size", "5");
        Assert.Equal(0, code);
        Assert.Contains("after the first 15000 characters of the stream", text);
        var whole = PlainTextCorpus.Load(Path.Combine(_dir, "whole", "corpus.txt"));
        var prefix = CorpusPrefix.Within(whole, 15_000).Count();
        var rest = PlainTextCorpus.Load(Path.Combine(_dir, "rest", "corpus.txt"));
        Assert.Equal(whole.Skip(prefix).Take(rest.Count), rest);
        foreach (var f in DataGeneration.FileNames.Where(f => f != DataGeneration.Corpus))
            Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "whole", f)), File.ReadAllBytes(Path.Combine(_dir, "rest", f)));
        Assert.Equal(2, Run("data", "--out", Path.Combine(_dir, "bad"), "--corpus-skip-chars", "-1").Code);
    }

    [Fact]
    public void Out_pointing_at_a_file_is_a_one_line_user_error_naming_it()
    {
        var file = Path.Combine(_dir, "plain");
        File.WriteAllText(file, "x");
        var (code, _, message) = Run("data", "--out", file);
        Assert.Equal(2, code);
        Assert.Equal($"loram: error: {file}: is a file, --out needs a folder\n", message.ReplaceLineEndings("\n"));
    }
}
