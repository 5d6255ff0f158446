using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Data;
using LoRAM.Evaluation;
using LoRAM.Llama;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Cli;

/// <summary>
/// <c>loram eval</c>: scores a model (optionally with an adapter) on any of: token-id files (mean next-token NLL),
/// perplexity sets (instruction JSONL: response-only; other files: plain text), a multiple-choice set and a math set.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var adapter = CommonOptions.Adapter();
        var tokens = new Option<string?>("--tokens") { Description = "File of token ids: one sequence per line, ids separated by whitespace or commas." };
        var ppl = new Option<string[]>("--ppl")
        {
            Description = "Perplexity set (repeatable): instruction JSONL (Alpaca, ShareGPT) scored on responses only, or plain text scored on every token.",
            AllowMultipleArgumentsPerToken = false,
        };
        var mc = new Option<string?>("--mc") { Description = "Multiple-choice JSONL {question, choices, label}: acc and acc_norm." };
        var math = new Option<string?>("--math") { Description = "Math JSONL {question, answer with #### n}: strict-match accuracy of greedy answers." };
        var mathShots = new Option<string?>("--math-shots") { Description = "JSONL of solved examples to prepend to every math question (few-shot)." };
        var shots = new Option<int>("--shots") { Description = "How many examples of --math-shots to use.", DefaultValueFactory = _ => 0 };
        var limit = new Option<int>("--limit") { Description = "Score at most this many items of each set (0 = all).", DefaultValueFactory = _ => 0 };
        var maxLength = new Option<int>("--max-length") { Description = "Longest sequence scored, in tokens.", DefaultValueFactory = _ => 512 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Longest math answer generated.", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch") { Description = "Sequences per forward pass.", DefaultValueFactory = _ => 8 };
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();

        var command = new Command("eval", "Score a model: next-token NLL and perplexity, multiple-choice and math accuracy.")
        {
            model, adapter, tokens, ppl, mc, math, mathShots, shots, limit, maxLength, maxNew, batch, device, json,
        };
        command.SetAction(parse =>
        {
            var pplFiles = parse.GetValue(ppl) ?? [];
            string? tokenFile = parse.GetValue(tokens), mcFile = parse.GetValue(mc), mathFile = parse.GetValue(math);
            if (tokenFile is null && pplFiles.Length == 0 && mcFile is null && mathFile is null)
                throw new UserInputException("nothing to evaluate: give --tokens, --ppl, --mc or --math");
            int batchSize = parse.GetValue(batch), maxLen = parse.GetValue(maxLength), take = parse.GetValue(limit), shotCount = parse.GetValue(shots);
            if (batchSize < 1) throw new UserInputException($"--batch must be 1 or more, got {batchSize}");
            if (maxLen < 2) throw new UserInputException($"--max-length must be 2 or more, got {maxLen}");
            if (take < 0) throw new UserInputException($"--limit must be 0 or more, got {take}");
            List<T> Limit<T>(List<T> items) => take > 0 && items.Count > take ? items.GetRange(0, take) : items;

            var modelDir = parse.GetValue(model)!;
            using var backend = CommonOptions.OpenBackend(parse.GetValue(device));
            using var llama = CommonOptions.LoadModel(modelDir, backend, parse.GetValue(adapter));
            ITokenizer Tokenizer()
            {
                try { return Tokenizers.Load(modelDir, llama.Config); }
                catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
            }
            var clock = Stopwatch.StartNew();
            var report = new JsonObject { ["model"] = Path.GetFullPath(modelDir), ["adapter"] = parse.GetValue(adapter) };
            var lines = new List<string>();
            JsonObject Ppl(NllSum s) => new() { ["tokens"] = s.Tokens, ["nll"] = s.MeanNll, ["perplexity"] = s.Perplexity };

            // Bars on a terminal's stderr while the sets are scored; the results go to stdout afterwards.
            ConsoleProgress.Run(parse.InvocationConfiguration.Error, progress =>
            {
                if (tokenFile is not null)
                {
                    var sequences = TokenFile.Read(tokenFile, llama.Config.VocabSize);
                    var score = NextTokenScorer.Score(llama, sequences, batchSize, progress);
                    // The flat fields {tokens, nll, perplexity} are the token-file result (the LLaMA issue's contract).
                    foreach (var (k, v) in Ppl(score)) report[k] = v?.DeepClone();
                    report["sequences"] = sequences.Count;
                    lines.Add($"{Path.GetFileName(tokenFile)}: {score.Tokens} tokens, mean NLL {score.MeanNll:F4}, perplexity {score.Perplexity:F3}");
                }
                if (pplFiles.Length > 0)
                {
                    var tokenizer = Tokenizer();
                    var sets = new JsonObject();
                    foreach (var file in pplFiles)
                    {
                        bool jsonl = file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
                        var score = jsonl
                            ? Benchmarks.InstructionPerplexity(llama, tokenizer, Limit(LoadInstructions(file)), maxLen, batchSize, progress)
                            : Benchmarks.TextPerplexity(llama, tokenizer, Limit(PlainTextCorpus.Load(file)), maxLen, batchSize, progress);
                        sets[Path.GetFileName(file)] = Ppl(score);
                        lines.Add($"{Path.GetFileName(file)}: perplexity {score.Perplexity:F3} over {score.Tokens} {(jsonl ? "response " : "")}tokens");
                    }
                    report["ppl"] = sets;
                }
                if (mcFile is not null)
                {
                    var score = Benchmarks.MultipleChoice(llama, Tokenizer(), Limit(MultipleChoiceFile.Load(mcFile)), batchSize, progress);
                    report["mc"] = new JsonObject { ["items"] = score.Items, ["acc"] = score.Accuracy, ["acc_norm"] = score.AccuracyNorm };
                    lines.Add($"{Path.GetFileName(mcFile)}: acc {score.Accuracy:P1}, acc_norm {score.AccuracyNorm:P1} over {score.Items} questions");
                }
                if (mathFile is not null)
                {
                    var few = parse.GetValue(mathShots) is { } shotFile ? Gsm8kFile.Load(shotFile).Take(shotCount).ToList() : [];
                    if (shotCount > few.Count) throw new UserInputException($"--shots {shotCount} needs --math-shots with at least that many examples (got {few.Count})");
                    var score = Benchmarks.MathProblems(llama, Tokenizer(), Limit(Gsm8kFile.Load(mathFile)), few, parse.GetValue(maxNew), progress: progress);
                    report["math"] = new JsonObject
                    {
                        ["items"] = score.Items, ["acc"] = score.Accuracy, ["shots"] = few.Count,
                        ["samples"] = new JsonArray(score.Samples.Select(s => (JsonNode)new JsonObject { ["question"] = s.Question, ["generated"] = s.Generated, ["correct"] = s.Correct }).ToArray()),
                    };
                    lines.Add($"{Path.GetFileName(mathFile)}: strict-match accuracy {score.Accuracy:P1} over {score.Items} problems ({few.Count}-shot)");
                }
            });
            report["seconds"] = clock.Elapsed.TotalSeconds;

            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(report.ToJsonString());
            else
            {
                foreach (var line in lines) output.WriteLine(line);
                output.WriteLine($"({clock.Elapsed.TotalSeconds:F1} s on {backend.Name})");
            }
            return 0;
        });
        return command;
    }

    /// <summary>Alpaca ({instruction, input, output}) or ShareGPT ({conversations}) records, by the first record's keys.</summary>
    private static List<InstructionRecord> LoadInstructions(string path)
    {
        string? first = File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => !string.IsNullOrWhiteSpace(l)) : null;
        return first is not null && first.Contains("\"conversations\"") ? ShareGptFile.Load(path) : AlpacaFile.Load(path);
    }
}
