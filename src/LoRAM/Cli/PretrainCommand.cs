using System.CommandLine;
using System.Globalization;
using LoRAM.Training;

namespace LoRAM.Cli;

/// <summary><c>loram pretrain</c>: flags → <see cref="PretrainOptions"/> → <see cref="Pretraining.Run"/> → the report as
/// text or JSON. Exit codes: 0 done, 2 bad input, 3 training diverged (the last good checkpoint is kept), 1 internal error.</summary>
internal static class PretrainCommand
{
    public static Command Create()
    {
        var d = new PretrainOptions { Config = "", Data = "", Tokens = 1, Out = "" };
        var config = new Option<string>("--config") { Description = "Model config.json, or the name of an embedded default: base, sibling.", Required = true };
        var data = new Option<string>("--data") { Description = "Corpus: plain text, documents separated by blank lines (e.g. corpus.txt from `loram data`).", Required = true };
        var tokens = new Option<long>("--tokens") { Description = "Training tokens; steps = ceil(tokens / (batch × seq-len)).", Required = true };
        var outDir = new Option<string>("--out") { Description = "Output folder: the trained model (HF layout), loss.csv, report.json, checkpoints/.", Required = true };
        var schedule = CorpusTrainingFlags.Create(d);
        var ckLayers = new Option<bool>("--checkpoint-layers") { Description = "Recompute each layer in the backward pass (less activation memory)." };
        var timeLimit = new Option<double>("--time-limit") { Description = "Stop after this many seconds with a checkpoint (continue later with --resume); 0 = none.", DefaultValueFactory = _ => d.TimeLimitSeconds };
        var profile = new Option<bool>("--profile") { Description = "Time every op (forward and backward) and add the table to the report and stderr." };
        var device = CommonOptions.Device();
        var json = CommonOptions.Json("Print the report as JSON on stdout.");

        var command = new Command("pretrain", "Pre-train a LLaMA from random initialisation on a plain-text corpus (byte tokenizer).")
        {
            config, data, tokens, outDir, ckLayers, timeLimit, profile, device, json,
        };
        schedule.AddTo(command);
        command.SetAction(parse =>
        {
            var o = schedule.Read(parse, new PretrainOptions
            {
                Config = parse.GetValue(config)!, Data = parse.GetValue(data)!, Tokens = parse.GetValue(tokens), Out = parse.GetValue(outDir)!,
                CheckpointLayers = parse.GetValue(ckLayers), TimeLimitSeconds = parse.GetValue(timeLimit), Profile = parse.GetValue(profile),
            });
            CorpusTrainingReport report;
            using (var backend = CommonOptions.OpenBackend(parse.GetValue(device)))
                report = ConsoleProgress.Run(parse.InvocationConfiguration.Error, progress => Pretraining.Run(o, backend, progress));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(ReportJson.Serialize(report));
            else if (!report.Completed)
                output.WriteLine($"stopped at step {report.Steps} of {report.PlannedSteps} (time limit); checkpoint {report.LastCheckpoint}; continue with --resume");
            else
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"wrote {report.Out}: {report.Steps} steps, {report.TokensSeen:N0} tokens, loss {report.FirstLoss:F4} → {report.FinalLoss:F4}" +
                    $" (eval {report.FinalEvalLoss?.ToString(CultureInfo.InvariantCulture) ?? "n/a"}), {report.TokensPerS:N0} tok/s"));
            return 0;
        });
        return command;
    }
}
