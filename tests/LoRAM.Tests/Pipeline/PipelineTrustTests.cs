using LoRAM.Llama.Tests.Support;
using LoRAM.Pipeline;
using LoRAM.Progress;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Pipeline;

/// <summary>A pipeline folder's rows are trusted only with the inputs they came from: the generated data is
/// fingerprinted too, and a damaged result.json or inputs.json is refused in one message naming it, never used.</summary>
public sealed class PipelineTrustTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly CpuBackend _cpu = new(1);

    public void Dispose()
    {
        _cpu.Dispose();
        _dir.Dispose();
    }

    private PipelineOptions Options(string name)
    {
        var models = _dir.File("models");
        if (!Directory.Exists(models))
        {
            TinyLlama.Write(Path.Combine(models, "base"), new TinyLlamaOptions { MaxPositions = 256 });
            TinyLlama.Write(Path.Combine(models, "sibling"), new TinyLlamaOptions { MaxPositions = 256, Seed = 2 });
        }
        return new PipelineOptions
        {
            Models = models, Out = _dir.File(name), Variants = ["base"], SeqLen = 128, Instructions = 10, CorpusChars = 2_000,
            EvalItems = 2, MathItems = 1, MathMaxNewTokens = 4,
        };
    }

    private (IReadOnlyList<VariantResult> Rows, IReadOnlyList<VariantResult> Sweep) Run(PipelineOptions o) => new PipelineRunner(o, _cpu, LineProgress.None).Run();

    [Fact]
    public void Edited_generated_data_is_refused_while_rows_exist_and_regenerated_when_none_do()
    {
        var o = Options("data");
        Run(o);
        string instructions = Path.Combine(o.Out, "data", "instructions.jsonl");
        string original = File.ReadAllText(instructions);
        File.AppendAllText(instructions, "{\"instruction\": \"an extra row\", \"input\": \"\", \"output\": \"x\"}\n");
        var e = Assert.Throws<UserInputException>(() => Run(o));
        Assert.Contains(instructions, e.Message);
        Assert.Contains("changed since it was generated", e.Message);

        Directory.Delete(Path.Combine(o.Out, "variants"), recursive: true);   // no rows: the data is generated anew
        Run(o);
        Assert.Equal(original, File.ReadAllText(instructions));
    }

    [Fact]
    public void A_truncated_result_json_is_refused_naming_it_and_the_row_to_delete()
    {
        var o = Options("result");
        var (rows, _) = Run(o);
        string result = Path.Combine(o.Out, "variants", "base", "result.json");
        string text = File.ReadAllText(result);
        File.WriteAllText(result, text[..(text.Length / 2)]);
        var e = Assert.Throws<UserInputException>(() => Run(o));
        Assert.StartsWith(result + ": not a complete result", e.Message);
        Assert.Contains("delete " + Path.Combine(o.Out, "variants", "base"), e.Message);

        File.WriteAllText(result, "{}");
        Assert.StartsWith(result + ": not a complete result", Assert.Throws<UserInputException>(() => Run(o)).Message);
        File.WriteAllText(result, text);
        Assert.Equal(rows[0].PerplexityInDomain, Run(o).Rows[0].PerplexityInDomain);   // restored: trusted again
    }

    [Theory]
    [InlineData("{\"fingerprint\": \"ab", "not valid JSON")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("{\"fingerprint\": 5}", "field 'fingerprint' is missing or not a string")]
    public void A_damaged_inputs_json_is_refused_naming_it(string content, string message)
    {
        var o = Options("inputs" + Math.Abs(content.GetHashCode()));
        Run(o);
        string inputs = Path.Combine(o.Out, PipelineInputs.FileName);
        File.WriteAllText(inputs, content);
        var e = Assert.Throws<UserInputException>(() => Run(o));
        Assert.StartsWith(inputs + ": " + message, e.Message);
    }
}
