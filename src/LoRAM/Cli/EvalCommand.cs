using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using LoRAM.Evaluation;

namespace LoRAM.Cli;

/// <summary><c>loram eval</c>: mean next-token negative log-likelihood and perplexity of a model on token sequences.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var tokens = new Option<string>("--tokens")
        {
            Description = "File of token ids: one sequence per line, ids separated by whitespace or commas.", Required = true,
        };
        var batch = new Option<int>("--batch") { Description = "Sequences per forward pass.", DefaultValueFactory = _ => 8 };
        var adapter = CommonOptions.Adapter();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();

        var command = new Command("eval", "Score a model: mean negative log-likelihood of each next token, and perplexity.")
        {
            model, adapter, tokens, batch, device, json,
        };
        command.SetAction(parse =>
        {
            int batchSize = parse.GetValue(batch);
            if (batchSize < 1) throw new UserInputException($"--batch must be 1 or more, got {batchSize}");
            using var backend = CommonOptions.OpenBackend(parse.GetValue(device));
            using var llama = CommonOptions.LoadModel(parse.GetValue(model)!, backend, parse.GetValue(adapter));
            var sequences = TokenFile.Read(parse.GetValue(tokens)!, llama.Config.VocabSize);
            var clock = Stopwatch.StartNew();
            var score = NextTokenScorer.Score(llama, sequences, batchSize);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    tokens = score.Tokens,
                    nll = score.MeanNll,
                    perplexity = score.Perplexity,
                    sequences = sequences.Count,
                    seconds = clock.Elapsed.TotalSeconds,
                }));
            else
                output.WriteLine($"{score.Tokens} tokens in {sequences.Count} sequences: mean NLL {score.MeanNll:F4} nats, perplexity {score.Perplexity:F3} ({clock.Elapsed.TotalSeconds:F1} s on {backend.Name})");
            return 0;
        });
        return command;
    }
}
