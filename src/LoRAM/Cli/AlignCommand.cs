using System.CommandLine;
using System.Globalization;
using LoRAM.Training;

namespace LoRAM.Cli;

/// <summary><c>loram align</c>: flags → <see cref="AlignmentOptions"/> → <see cref="Alignment.Run"/> (paper Eq. 8) → the
/// report as text or JSON.</summary>
internal static class AlignCommand
{
    public static Command Create()
    {
        var d = new AlignmentOptions { Model = "", Data = "", Tokens = 1, Out = "" };
        var model = CommonOptions.Model("The pruned model folder to align.");
        var data = new Option<string>("--data") { Description = "General corpus (plain text) to continue pre-training on.", Required = true };
        var tokens = new Option<long>("--tokens") { Description = "Training tokens.", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder for the aligned model (with the pruning record), loss curve, report.", Required = true };
        var schedule = CorpusTrainingFlags.Create(d);
        var weights = new Option<string>("--weights")
        {
            Description = "Weights that train: all-but-lm-head (the official LoRAM script), all, or pruned-layers.",
            DefaultValueFactory = _ => WeightsName(d.Weights),
        };
        weights.AcceptOnlyFromAmong(Enum.GetValues<AlignedWeights>().Select(WeightsName).ToArray());
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("align", "Align a pruned model by a short continual pre-training (LoRAM's alignment); the defaults follow the official " +
            "LoRAM script scaled to the run: lm_head frozen, 1/16 of the steps warm-up, cosine to 0, no weight decay, lr 1/6 of pre-training's.")
        {
            model, data, tokens, outDir, weights, device, json,
        };
        schedule.AddTo(command);
        command.SetAction(parse =>
        {
            var o = schedule.Read(parse, new AlignmentOptions
            {
                Model = parse.GetValue(model)!, Data = parse.GetValue(data)!, Tokens = parse.GetValue(tokens), Out = parse.GetValue(outDir)!,
                Weights = Enum.GetValues<AlignedWeights>().Single(w => WeightsName(w) == parse.GetValue(weights)),
            });
            CorpusTrainingReport report;
            using (var backend = CommonOptions.OpenBackend(parse.GetValue(device)))
                report = ConsoleProgress.Run(parse.InvocationConfiguration.Error, progress => Alignment.Run(o, backend, progress));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(ReportJson.Serialize(report));
            else output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"aligned {o.Model} → {report.Out}: {report.Steps} steps, loss {report.FirstLoss:F4} → {report.FinalLoss:F4}"));
            return 0;
        });
        return command;
    }

    /// <summary>all, all-but-lm-head, pruned-layers.</summary>
    internal static string WeightsName(AlignedWeights w) => w switch
    {
        AlignedWeights.AllButLmHead => "all-but-lm-head", AlignedWeights.PrunedLayers => "pruned-layers", _ => "all",
    };
}
