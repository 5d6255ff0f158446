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
