using System.CommandLine;
using LoRAM.Lora;

namespace LoRAM.Cli;

/// <summary><c>loram recover</c>: turns the adapter trained on a pruned model into a PEFT adapter of the original model (paper Eq. 5–6).</summary>
internal static class RecoverCommand
{
    public static Command Create()
    {
        var pruned = new Option<string>("--pruned") { Description = "The pruned model folder the adapter was trained on (holds loram_pruning.json).", Required = true };
        var adapter = new Option<string>("--adapter") { Description = "The adapter trained on the pruned model (PEFT folder).", Required = true };
        var model = CommonOptions.Model("The original (unpruned) model folder the adapter is recovered for.");
        var outDir = new Option<string>("--out") { Description = "Folder to write the recovered PEFT adapter into (must not exist yet).", Required = true };
        var mode = new Option<string>("--recover")
        {
            Description = "Non-structured pruning: 'unmasked' hands back B·A (the paper), 'masked' keeps (B·A) ⊙ M by shipping the masks.",
            DefaultValueFactory = _ => "unmasked",
        };
        mode.AcceptOnlyFromAmong("unmasked", "masked");
        var fillA = new Option<string>("--fill-a")
        {
            Description = "Structured pruning: the pruned columns of A get zeros ('zeroA', the paper) or N(0, 1/r²) draws ('normA', the official script's option).",
            DefaultValueFactory = _ => "zeroA",
        };
        fillA.AcceptOnlyFromAmong("zeroA", "normA");
        var seed = new Option<int>("--seed") { Description = "Seed of the normA draws.", DefaultValueFactory = _ => new RecoveryOptions { PrunedModel = "", Adapter = "", OriginalModel = "", Out = "" }.Seed };
        var json = CommonOptions.Json();
        var command = new Command("recover", "Recover an adapter trained on a pruned model to the original model's shapes (LoRAM's R).")
        {
            pruned, adapter, model, outDir, mode, fillA, seed, json,
        };
        command.SetAction(parse =>
        {
            var o = new RecoveryOptions
            {
                PrunedModel = parse.GetValue(pruned)!, Adapter = parse.GetValue(adapter)!, OriginalModel = parse.GetValue(model)!,
                Out = parse.GetValue(outDir)!, Masked = parse.GetValue(mode) == "masked",
                FillA = parse.GetValue(fillA) == "normA" ? RecoveredA.Normal : RecoveredA.Zero, Seed = parse.GetValue(seed),
            };
            var result = ConsoleProgress.Run(parse.InvocationConfiguration.Error, progress => AdapterRecovery.Run(o, progress));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(ReportJson.Serialize(result, indented: false));
            else output.WriteLine($"recovered {result.Modules} adapted projections ({result.PrunedAdapterParameters:N0} → {result.RecoveredAdapterParameters:N0} parameters{(result.Masked ? ", masked" : "")}) into {result.OutFolder}");
            return 0;
        });
        return command;
    }
}
