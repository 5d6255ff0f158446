using System.Text.Json;
using LoRAM.Cli;
using LoRAM.Llama.Tests.Tokenization;
using LoRAM.Tests.Support;
using LoRAM.Llama.Tests.Support;

namespace LoRAM.Tests.Cli;

public sealed class TokenizeCommandTests
{
    private static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(TokenizeCommand.Create(), args);

    /// <summary>Every text of the fixture suite, one JSONL line each, gives Hugging Face's input_ids (the "with"
    /// ids of the committed reference, produced by HF's tokenizers library with add_special_tokens=True).</summary>
    [Theory]
    [InlineData("llama3_1")]
    [InlineData("qwen3")]
    [InlineData("llama2")]
    public void Jsonl_lines_get_hugging_face_input_ids(string name)
    {
        using var dir = new TempFolder();
        var folder = ReferenceTokenizers.FolderOf(name);
        var texts = ReferenceTokenizers.Texts.Value;
        var expected = ReferenceTokenizers.Load(name).Cases;
        var input = Path.Combine(dir.Path, "in.jsonl");
        File.WriteAllLines(input, texts.Select(t => JsonSerializer.Serialize(new { text = t })));
        var (code, output, error) = Run("tokenize", "--model", folder, "--jsonl", input);
        Assert.True(code == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(texts.Length, lines.Length);
        for (int i = 0; i < texts.Length; i++)
        {
            using var line = JsonDocument.Parse(lines[i]);
            Assert.Equal(expected[i].With, line.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        }
    }

    [Fact]
    public void Text_prints_the_ids_and_json_adds_the_count()
    {
        var folder = ReferenceTokenizers.FolderOf("llama3_1");
        int index = Array.IndexOf(ReferenceTokenizers.Texts.Value, "hello world");
        var ids = ReferenceTokenizers.Load("llama3_1").Cases[index].With;
        Assert.Equal(string.Join(' ', ids) + Environment.NewLine, Run("tokenize", "--model", folder, "--text", "hello world").Output);
        using var json = JsonDocument.Parse(Run("tokenize", "--model", folder, "--text", "hello world", "--json").Output);
        Assert.Equal(ids, json.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(ids.Length, json.RootElement.GetProperty("count").GetInt32());
    }

    [Fact]
    public void Bad_input_names_the_file_line_and_field()
    {
        using var dir = new TempFolder();
        var folder = ReferenceTokenizers.FolderOf("qwen3");
        var input = Path.Combine(dir.Path, "bad.jsonl");
        File.WriteAllLines(input, ["{\"text\": \"fine\"}", "{\"txt\": \"typo\"}"]);
        var r = Run("tokenize", "--model", folder, "--jsonl", input);
        Assert.Equal(2, r.Code);
        Assert.Equal($"loram: error: {input}:2: missing field \"text\"", r.Error.TrimEnd());
        Assert.Contains("exactly one of --text, --file or --jsonl", Run("tokenize", "--model", folder, "--text", "a", "--jsonl", input).Error);
        Assert.Contains("no tokenizer found", Run("tokenize", "--model", dir.Path, "--text", "a").Error);
    }
}
