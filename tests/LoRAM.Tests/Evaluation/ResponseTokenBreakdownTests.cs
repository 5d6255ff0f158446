using LoRAM.Data;
using LoRAM.Evaluation;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;
using static LoRAM.Evaluation.ResponseTokenCategory;

namespace LoRAM.Tests.Evaluation;

/// <summary>Where response perplexity sits: each response token's category comes from the data alone, and the categories
/// add up to the set's response perplexity.</summary>
public sealed class ResponseTokenBreakdownTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-breakdown-").FullName;
    private readonly CpuBackend _cpu = new(1);
    private readonly ByteTokenizer _bytes = new();

    public void Dispose()
    {
        _cpu.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void A_fact_answer_splits_into_opening_copied_frequent_content_separators_and_end()
    {
        var record = new InstructionRecord("Where was Otto Crane born?", "", "Otto Crane was born in Dunmere.");
        var response = InstructionTokens.Encode(_bytes, record.ToExample(), 512) is var e ? e.Ids[e.ResponseStart..] : [];
        var categories = ResponseTokenBreakdown.Categorize(_bytes, record, response, new HashSet<string> { "was", "born", "in" }, openingTokens: 1);

        // "was" and "born" are frequent, but the question holds them: copied comes first.
        ResponseTokenCategory[] expected =
        [
            Opening, Copied, Copied, Copied, Separator,      // "Otto "
            Copied, Copied, Copied, Copied, Copied, Separator, // "Crane "
            Copied, Copied, Copied, Separator,                 // "was "
            Copied, Copied, Copied, Copied, Separator,         // "born "
            Frequent, Frequent, Separator,                     // "in "
            Content, Content, Content, Content, Content, Content, Content, Separator,   // "Dunmere."
            End,
        ];
        Assert.Equal(expected, categories);
    }

    [Fact]
    public void Frequent_words_are_those_in_at_least_the_share_of_responses_each_counted_once_a_response()
    {
        var words = ResponseTokenBreakdown.FrequentWords(["Ann is 5 years old.", "Bo is is 7 years old.", "Cy was born in Hale."], 0.5);
        Assert.Equal(new HashSet<string> { "is", "years", "old" }, words);
    }

    [Fact]
    public void The_categories_add_up_to_the_response_perplexity_of_the_set()
    {
        var folder = Path.Combine(_dir, "model");
        RandomLlama.Write(folder, dtype: DType.F32);
        using var model = LlamaModel.Load(folder, _cpu);
        var records = new List<InstructionRecord>
        {
            new("Where was Otto Crane born?", "", "Otto Crane was born in Dunmere."),
            new("How old is Ursula Urban?", "", "Ursula Urban is 27 years old."),
            new("Compare the numbers.", "9381 or 107", "9381 is larger than 107."),   // "is": frequent, not in this prompt
            new("Spell the word backwards.", "Walter", "retlaW"),
        };
        var whole = Benchmarks.InstructionPerplexity(model, _bytes, records, batchSize: 3);
        var parts = ResponseTokenBreakdown.Score(model, _bytes, records, batchSize: 3, openingTokens: 2, frequentShare: 0.5);

        Assert.Equal(Enum.GetValues<ResponseTokenCategory>(), parts.Select(p => p.Category));
        Assert.Equal(whole.Tokens, parts.Sum(p => p.Tokens));
        Assert.Equal(whole.Nll, parts.Sum(p => p.NllSum), 1e-9 * whole.Nll);
        Assert.Equal(2 * records.Count, parts.Single(p => p.Category == Opening).Tokens);
        Assert.Equal(records.Count, parts.Single(p => p.Category == End).Tokens);
        Assert.All(parts, p => Assert.True(p.Tokens > 0 && double.IsFinite(p.Perplexity)));
    }
}
