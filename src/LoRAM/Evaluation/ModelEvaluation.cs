using System.Diagnostics;
using System.Text.Json.Serialization;
using LoRAM.Data;
using LoRAM.Llama;
using LoRAM.Llama.Tokenization;
using LoRAM.Progress;
using LoRAM.Tensors;

namespace LoRAM.Evaluation;

/// <summary>What <c>loram eval</c> is told: a model (optionally with an adapter) and the sets to score it on.</summary>
public sealed record EvaluationOptions
{
    public required string Model { get; init; }
    /// <summary>PEFT adapter applied (unmerged) on top of the model.</summary>
    public string? Adapter { get; init; }
    /// <summary>File of token ids: one sequence per line (mean next-token NLL).</summary>
    public string? Tokens { get; init; }
    /// <summary>Perplexity sets: instruction JSONL scored on responses only, or plain text scored on every token.</summary>
    public IReadOnlyList<string> Perplexity { get; init; } = [];
    /// <summary>Multiple-choice JSONL {question, choices, label}.</summary>
    public string? MultipleChoice { get; init; }
    /// <summary>Knowledge JSONL {question, choices (answer sentences), label[, rank, attribute]} (knowledge.jsonl).</summary>
    public string? Knowledge { get; init; }
    /// <summary>Math JSONL {question, answer with #### n}.</summary>
    public string? Math { get; init; }
    /// <summary>Solved examples prepended to every math question (few-shot).</summary>
    public string? MathShots { get; init; }
    public int Shots { get; init; }
    /// <summary>Score at most this many items of each set (0 = all).</summary>
    public int Limit { get; init; }
    /// <summary>Also split each instruction set's perplexity by <see cref="ResponseTokenCategory"/> (<see cref="ResponseTokenBreakdown"/>).</summary>
    public bool ByTokenCategory { get; init; }
    /// <summary>k of <see cref="ResponseTokenCategory.Opening"/>: the response's first k tokens.</summary>
    public int OpeningTokens { get; init; } = ResponseTokenBreakdown.DefaultOpeningTokens;
    public int MaxLength { get; init; } = 512;
    public int MaxNewTokens { get; init; } = 256;
    public int Batch { get; init; } = 8;

    /// <summary>Checks every setting before any work; throws <see cref="UserInputException"/> naming the flag.</summary>
    public void Validate()
    {
        if (Tokens is null && Perplexity.Count == 0 && MultipleChoice is null && Math is null && Knowledge is null)
            throw new UserInputException("nothing to evaluate: give --tokens, --ppl, --mc, --knowledge or --math");
        if (Batch < 1) throw new UserInputException($"--batch must be 1 or more, got {Batch}");
        if (MaxLength < 2) throw new UserInputException($"--max-length must be 2 or more, got {MaxLength}");
        if (Limit < 0) throw new UserInputException($"--limit must be 0 or more, got {Limit}");
        if (OpeningTokens < 0) throw new UserInputException($"--opening-tokens must be 0 or more, got {OpeningTokens}");
        if (Shots < 0) throw new UserInputException($"--shots must be 0 or more, got {Shots}");
        if (MaxNewTokens < 1) throw new UserInputException($"--max-new-tokens must be 1 or more, got {MaxNewTokens}");
    }
}

public sealed record PerplexityScore(long Tokens, double Nll, double Perplexity)
{
    /// <summary>The set's tokens and NLL by response-token category (<c>--by-token-category</c>, instruction sets only).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<CategoryScore>? ByCategory { get; init; }

    internal static PerplexityScore Of(NllSum s) => new(s.Tokens, s.MeanNll, s.Perplexity);
}

public sealed record MultipleChoiceResult(int Items, double Acc, double AccNorm);

/// <summary>Knowledge questions: through the chat template (multiple choice, normalised, exact match), and probed as
/// plain text without a template (what pre-training stored: <see cref="Benchmarks.KnowledgeProbe"/>).</summary>
public sealed record KnowledgeResult(int Items, double Acc, double AccNorm, double ExactMatch, double ProbeAcc, IReadOnlyList<KnowledgeTier> Tiers);

public sealed record MathSample(string Question, string Generated, bool Correct);

public sealed record MathResult(int Items, double Acc, int Shots, IReadOnlyList<MathSample> Samples);

/// <summary>What <see cref="ModelEvaluation.Run"/> measured. The token-file result is flat ({tokens, nll, perplexity,
/// sequences}), the other sets under their own keys, perplexity sets by file name.</summary>
public sealed record EvaluationReport
{
    public required string Model { get; init; }
    public string? Adapter { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? Tokens { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Nll { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Perplexity { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Sequences { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyDictionary<string, PerplexityScore>? Ppl { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public MultipleChoiceResult? Mc { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public KnowledgeResult? Knowledge { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public MathResult? Math { get; init; }
    public double Seconds { get; init; }
    /// <summary>The device the model ran on (not part of the JSON, which predates it).</summary>
    [JsonIgnore] public string Device { get; init; } = "";
    /// <summary>Whether each perplexity set was instruction data (scored on responses) — for the text summary.</summary>
    [JsonIgnore] public IReadOnlyDictionary<string, bool> ResponseOnly { get; init; } = new Dictionary<string, bool>();
}

/// <summary>
/// Scores a model (optionally with an adapter) on any of: token-id files (mean next-token NLL), perplexity sets,
/// a multiple-choice set and a math set — the scorers of <see cref="Benchmarks"/> and <see cref="NextTokenScorer"/>.
/// </summary>
public static class ModelEvaluation
{
    public static EvaluationReport Run(EvaluationOptions o, Backend backend, IProgressReporter progress)
    {
        o.Validate();
        List<T> Limit<T>(List<T> items) => o.Limit > 0 && items.Count > o.Limit ? items.GetRange(0, o.Limit) : items;

        using var llama = ModelLoader.Load(o.Model, backend, o.Adapter);
        ITokenizer Tokenizer()
        {
            try { return Tokenizers.Load(o.Model, llama.Config); }
            catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        }
        var clock = Stopwatch.StartNew();
        var report = new EvaluationReport { Model = Path.GetFullPath(o.Model), Adapter = o.Adapter, Device = backend.Name };
        if (o.Tokens is not null)
        {
            var sequences = TokenFile.Read(o.Tokens, llama.Config.VocabSize);
            var score = NextTokenScorer.Score(llama, sequences, o.Batch, progress);
            report = report with { Tokens = score.Tokens, Nll = score.MeanNll, Perplexity = score.Perplexity, Sequences = sequences.Count };
        }
        if (o.Perplexity.Count > 0)
        {
            var tokenizer = Tokenizer();
            var sets = new Dictionary<string, PerplexityScore>();
            var responseOnly = new Dictionary<string, bool>();
            foreach (var file in o.Perplexity)
            {
                bool jsonl = file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
                var records = jsonl ? Limit(InstructionFiles.Load(file)) : null;
                var score = records is not null
                    ? Benchmarks.InstructionPerplexity(llama, tokenizer, records, o.MaxLength, o.Batch, progress)
                    : Benchmarks.TextPerplexity(llama, tokenizer, Limit(PlainTextCorpus.Load(file)), o.MaxLength, o.Batch, progress);
                // Keyed by the path as given: two files of one name in different folders must not collide.
                if (sets.ContainsKey(file)) throw new UserInputException($"--ppl {file}: given twice");
                sets[file] = PerplexityScore.Of(score) with
                {
                    ByCategory = o.ByTokenCategory && records is not null
                        ? ResponseTokenBreakdown.Score(llama, tokenizer, records, o.MaxLength, o.Batch, o.OpeningTokens, progress: progress) : null,
                };
                responseOnly[file] = jsonl;
            }
            report = report with { Ppl = sets, ResponseOnly = responseOnly };
        }
        if (o.MultipleChoice is not null)
        {
            var score = Benchmarks.MultipleChoice(llama, Tokenizer(), Limit(MultipleChoiceFile.Load(o.MultipleChoice)), o.Batch, progress);
            report = report with { Mc = new MultipleChoiceResult(score.Items, score.Accuracy, score.AccuracyNorm) };
        }
        if (o.Knowledge is not null)
        {
            var items = Limit(KnowledgeFile.Load(o.Knowledge));
            var tokenizer = Tokenizer();
            var score = Benchmarks.Knowledge(llama, tokenizer, items, o.Batch, progress: progress);
            var probe = Benchmarks.KnowledgeProbe(llama, tokenizer, items, o.Batch);
            report = report with { Knowledge = new KnowledgeResult(score.Items, score.Accuracy, score.AccuracyNorm, score.ExactMatch, probe.Accuracy, score.Tiers) };
        }
        if (o.Math is not null)
        {
            var few = o.MathShots is { } shotFile ? Gsm8kFile.Load(shotFile).Take(o.Shots).ToList() : [];
            if (o.Shots > few.Count) throw new UserInputException($"--shots {o.Shots} needs --math-shots with at least that many examples (got {few.Count})");
            var score = Benchmarks.MathProblems(llama, Tokenizer(), Limit(Gsm8kFile.Load(o.Math)), few, o.MaxNewTokens, progress: progress);
            report = report with
            {
                Math = new MathResult(score.Items, score.Accuracy, few.Count, score.Samples.Select(s => new MathSample(s.Question, s.Generated, s.Correct)).ToList()),
            };
        }
        return report with { Seconds = clock.Elapsed.TotalSeconds };
    }
}
