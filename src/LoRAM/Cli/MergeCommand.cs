using System.CommandLine;
using LoRAM.Lora;

namespace LoRAM.Cli;

/// <summary><c>loram merge</c>: flags → <see cref="MergeOptions"/> → <see cref="AdapterMerge.Run"/> → a line or JSON.</summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model("Base model folder the adapter was made for (for LoRAM: the original, unpruned model).");
        var adapter = new Option<string>("--adapter") { Description = "PEFT LoRA adapter folder (for LoRAM: the recovered adapter).", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder to write the merged model into (must not exist yet).", Required = true };
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("merge", "Merge a LoRA adapter into its base model's weights and save the result.")
        {
            model, adapter, outDir, device, json,
        };
        command.SetAction(parse =>
        {
            var o = new MergeOptions { Model = parse.GetValue(model)!, Adapter = parse.GetValue(adapter)!, Out = parse.GetValue(outDir)! };
            MergeReport report;
            using (var backend = CommonOptions.OpenBackend(parse.GetValue(device)))
                report = ConsoleProgress.Run(parse.InvocationConfiguration.Error, progress => AdapterMerge.Run(o, backend, progress));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(ReportJson.Serialize(report, indented: false));
            else output.WriteLine($"merged {report.MergedModules} adapted projections ({report.AdapterParameters:N0} adapter parameters) into {report.OutDir} in {report.Seconds:F1} s");
            return 0;
        });
        return command;
    }
}
