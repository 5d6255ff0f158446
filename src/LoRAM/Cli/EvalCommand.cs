using System.CommandLine;
using LoRAM.Evaluation;

namespace LoRAM.Cli;

/// <summary><c>loram eval</c>: flags → <see cref="EvaluationOptions"/> → <see cref="ModelEvaluation.Run"/> → one line per
/// set, or the report as JSON.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var d = new EvaluationOptions { Model = "" };
        var model = CommonOptions.Model();
        var adapter = CommonOptions.Adapter();
        var tokens = new Option<string?>("--tokens") { Description = "File of token ids: one sequence per line, ids separated by whitespace or commas." };
        var ppl = new Option<string[]>("--ppl")
        {
            Description = "Perplexity set (repeatable): instruction JSONL (Alpaca, ShareGPT) scored on responses only, or plain text scored on every token.",
            AllowMultipleArgumentsPerToken = false,
        };
        var byCategory = new Option<bool>("--by-token-category")
        {
            Description = "Also split each instruction set's response perplexity by token category, decided from the data: opening (first k tokens), end of turn, separators, words copied from the prompt, words frequent among the responses, other content.",
        };
        var opening = new Option<int>("--opening-tokens") { Description = "k: the response's first k tokens are the opening category.", DefaultValueFactory = _ => d.OpeningTokens };
        var mc = new Option<string?>("--mc") { Description = "Multiple-choice JSONL {question, choices, label}: acc and acc_norm." };
        var knowledge = new Option<string?>("--knowledge") { Description = "Knowledge JSONL (knowledge.jsonl: choices are answer sentences): multiple choice and exact match through the chat template, and a plain-text probe." };
        var math = new Option<string?>("--math") { Description = "Math JSONL {question, answer with #### n}: strict-match accuracy of greedy answers." };
        var mathShots = new Option<string?>("--math-shots") { Description = "JSONL of solved examples to prepend to every math question (few-shot)." };
        var shots = new Option<int>("--shots") { Description = "How many examples of --math-shots to use.", DefaultValueFactory = _ => d.Shots };
        var limit = new Option<int>("--limit") { Description = "Score at most this many items of each set (0 = all).", DefaultValueFactory = _ => d.Limit };
        var maxLength = new Option<int>("--max-length") { Description = "Longest sequence scored, in tokens.", DefaultValueFactory = _ => d.MaxLength };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Longest math answer generated.", DefaultValueFactory = _ => d.MaxNewTokens };
        var batch = new Option<int>("--batch") { Description = "Sequences per forward pass.", DefaultValueFactory = _ => d.Batch };
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();

        var command = new Command("eval", "Score a model: next-token NLL and perplexity, multiple-choice and math accuracy.")
        {
            model, adapter, tokens, ppl, byCategory, opening, mc, knowledge, math, mathShots, shots, limit, maxLength, maxNew, batch, device, json,
        };
        command.SetAction(parse =>
        {
            var o = new EvaluationOptions
            {
                Model = parse.GetValue(model)!, Adapter = parse.GetValue(adapter), Tokens = parse.GetValue(tokens), Perplexity = parse.GetValue(ppl) ?? [],
                ByTokenCategory = parse.GetValue(byCategory), OpeningTokens = parse.GetValue(opening),
                MultipleChoice = parse.GetValue(mc), Knowledge = parse.GetValue(knowledge), Math = parse.GetValue(math), MathShots = parse.GetValue(mathShots), Shots = parse.GetValue(shots),
                Limit = parse.GetValue(limit), MaxLength = parse.GetValue(maxLength), MaxNewTokens = parse.GetValue(maxNew), Batch = parse.GetValue(batch),
            };
            EvaluationReport report;
            // Bars on a terminal's stderr while the sets are scored; the results go to stdout afterwards.
            using (var backend = CommonOptions.OpenBackend(parse.GetValue(device)))
                report = ConsoleProgress.Run(parse.InvocationConfiguration.Error, progress => ModelEvaluation.Run(o, backend, progress));

            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) { output.WriteLine(ReportJson.Serialize(report, indented: false)); return 0; }
            if (report.Tokens is long n)
                output.WriteLine($"{Path.GetFileName(o.Tokens)}: {n} tokens, mean NLL {report.Nll:F4}, perplexity {report.Perplexity:F3}");
            foreach (var (file, s) in report.Ppl ?? new Dictionary<string, PerplexityScore>())
            {
                output.WriteLine($"{file}: perplexity {s.Perplexity:F3} over {s.Tokens} {(report.ResponseOnly[file] ? "response " : "")}tokens");
                foreach (var c in s.ByCategory ?? [])
                    output.WriteLine($"  {c.Category,-9} {c.Tokens,6} tokens  perplexity {c.Perplexity,8:F3}  {c.ShareOfNll(s.Nll * s.Tokens),6:P1} of the NLL");
            }
            if (report.Knowledge is { } k)
                output.WriteLine($"{Path.GetFileName(o.Knowledge)}: acc {k.Acc:P1}, acc_norm {k.AccNorm:P1}, exact match {k.ExactMatch:P1}, plain-text probe {k.ProbeAcc:P1} over {k.Items} questions; by rank: " +
                    string.Join(", ", k.Tiers.Select(t => $"{t.FirstRank}–{(t.LastRank == int.MaxValue ? "" : t.LastRank)} {t.Accuracy:P0} ({t.Items})")));
            if (report.Mc is { } m)
                output.WriteLine($"{Path.GetFileName(o.MultipleChoice)}: acc {m.Acc:P1}, acc_norm {m.AccNorm:P1} over {m.Items} questions");
            if (report.Math is { } r)
                output.WriteLine($"{Path.GetFileName(o.Math)}: strict-match accuracy {r.Acc:P1} over {r.Items} problems ({r.Shots}-shot)");
            output.WriteLine($"({report.Seconds:F1} s on {report.Device})");
            return 0;
        });
        return command;
    }
}
