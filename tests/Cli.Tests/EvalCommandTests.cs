using System.CommandLine;
using System.Text.Json;
using LoRAM.Cli;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

public sealed class EvalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-eval-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>`loram eval` or `loram data` with <paramref name="args"/>, its stdout into <paramref name="output"/>.</summary>
    private static int Run(StringWriter output, params string[] args) =>
        new RootCommand { DataCommand.Create(), EvalCommand.Create() }.Parse(args)
            .Invoke(new InvocationConfiguration { Output = output, Error = new StringWriter(), EnableDefaultExceptionHandler = false });

    /// <summary>A random tiny model and a small generated data folder (`loram data`).</summary>
    private (string Model, string Data) ModelAndData()
    {
        var model = Path.Combine(_dir, "model");
        RandomLlama.Write(model);
        var data = Path.Combine(_dir, "data");
        Assert.Equal(0, Run(new StringWriter(), "data", "--out", data, "--corpus-chars", "5000", "--instructions", "20", "--eval-size", "10"));
        return (model, data);
    }

    [Fact]
    public void Loram_eval_reports_every_requested_set_in_json()
    {
        var (model, data) = ModelAndData();

        var output = new StringWriter();
        Assert.Equal(0, Run(output, "eval", "--model", model, "--json", "--limit", "3", "--max-new-tokens", "8",
            "--ppl", Path.Combine(data, "ppl-in.jsonl"), "--ppl", Path.Combine(data, "corpus.txt"),
            "--mc", Path.Combine(data, "mc.jsonl"), "--math", Path.Combine(data, "math.jsonl"),
            "--math-shots", Path.Combine(data, "math.jsonl"), "--shots", "1"));
        using var json = JsonDocument.Parse(output.ToString());
        var r = json.RootElement;
        Assert.True(r.GetProperty("ppl").GetProperty(Path.Combine(data, "ppl-in.jsonl")).GetProperty("perplexity").GetDouble() > 1);
        Assert.True(r.GetProperty("ppl").GetProperty(Path.Combine(data, "corpus.txt")).GetProperty("tokens").GetInt64() > 100);
        Assert.Equal(3, r.GetProperty("mc").GetProperty("items").GetInt32());
        Assert.InRange(r.GetProperty("mc").GetProperty("acc").GetDouble(), 0, 1);
        Assert.Equal(3, r.GetProperty("math").GetProperty("items").GetInt32());
        Assert.Equal(1, r.GetProperty("math").GetProperty("shots").GetInt32());
        Assert.Equal(3, r.GetProperty("math").GetProperty("samples").GetArrayLength());

        Assert.Throws<UserInputException>(() => Run(new StringWriter(), "eval", "--model", model));
    }

    [Fact]
    public void By_token_category_splits_an_instruction_set_into_categories_that_add_up_and_leaves_plain_text_whole()
    {
        var (model, data) = ModelAndData();
        string set = Path.Combine(data, "ppl-in.jsonl"), text = Path.Combine(data, "corpus.txt");

        var output = new StringWriter();
        Assert.Equal(0, Run(output, "eval", "--model", model, "--json", "--limit", "5", "--by-token-category", "--opening-tokens", "3", "--ppl", set, "--ppl", text));
        using var json = JsonDocument.Parse(output.ToString());
        var scored = json.RootElement.GetProperty("ppl").GetProperty(set);
        var parts = scored.GetProperty("by_category").EnumerateArray().ToList();
        Assert.Equal(["Opening", "End", "Separator", "Copied", "Frequent", "Content"], parts.Select(p => p.GetProperty("category").GetString()));
        Assert.Equal(scored.GetProperty("tokens").GetInt64(), parts.Sum(p => p.GetProperty("tokens").GetInt64()));
        Assert.Equal(scored.GetProperty("nll").GetDouble() * scored.GetProperty("tokens").GetInt64(), parts.Sum(p => p.GetProperty("nll_sum").GetDouble()), 1e-6);
        Assert.Equal(3 * 5, parts[0].GetProperty("tokens").GetInt64());
        Assert.False(json.RootElement.GetProperty("ppl").GetProperty(text).TryGetProperty("by_category", out _));

        output = new StringWriter();
        Assert.Equal(0, Run(output, "eval", "--model", model, "--limit", "5", "--by-token-category", "--ppl", set));
        Assert.Contains("Content", output.ToString());
    }

    [Fact]
    public void Two_perplexity_files_of_one_name_in_different_folders_get_one_entry_each()
    {
        var model = Path.Combine(_dir, "model");
        RandomLlama.Write(model);
        string a = Path.Combine(_dir, "a", "test.txt"), b = Path.Combine(_dir, "b", "test.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(a)!);
        Directory.CreateDirectory(Path.GetDirectoryName(b)!);
        File.WriteAllText(a, "short text\n");
        File.WriteAllText(b, "a different and rather longer text than the first one\n");
        var output = new StringWriter();
        Assert.Equal(0, Run(output, "eval", "--model", model, "--json", "--ppl", a, "--ppl", b));
        using var json = JsonDocument.Parse(output.ToString());
        var ppl = json.RootElement.GetProperty("ppl");
        Assert.Equal(2, ppl.EnumerateObject().Count());
        // Byte tokenizer: BOS + one token a byte, every byte scored.
        Assert.Equal("short text".Length, ppl.GetProperty(a).GetProperty("tokens").GetInt64());
        Assert.Equal("a different and rather longer text than the first one".Length, ppl.GetProperty(b).GetProperty("tokens").GetInt64());
    }
}
