using System.CommandLine;
using System.Text.Json;
using LoRAM.Llama;
using LoRAM.Pruning;
using LoRAM.Tensors;

namespace LoRAM.Cli;

/// <summary><c>loram prune</c>: the pruning function P(·) of Eq. (3) — W0 → W0^P, written atomically with its pruning
/// record. See src/LoRAM/Pruning/README.md for the methods and output formats.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var d = new PruneOptions { Model = "", Out = "", Method = PruningMethod.Stru };
        var model = new Option<string>("--model") { Description = "Model folder to prune (Hugging Face layout).", Required = true };
        var method = new Option<string>("--method") { Description = "rand | stru | semi | unst | wanda | magnitude.", Required = true };
        var ratio = new Option<double>("--ratio") { Description = "Fraction removed: of attention groups and MLP channels in each pruned layer (rand, stru), of weights (unst, wanda, magnitude). semi uses --nm." };
        var outDir = new Option<string>("--out") { Description = "New folder for the pruned model (must not exist or be empty).", Required = true };
        var nm = new Option<string?>("--nm") { Description = "N:M semi-structured pattern (semi: default 4:8; also for wanda/magnitude)." };
        var calib = new Option<string?>("--calib") { Description = "Plain-text calibration file (default: the embedded corpus)." };
        var samples = new Option<int?>("--samples") { Description = "Calibration samples (default 10 for stru, 128 for semi/unst/wanda)." };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per calibration sample.", DefaultValueFactory = _ => d.SeqLen };
        var seed = new Option<int>("--seed") { Description = "Seed of the calibration windows and of LoRAM-Rand.", DefaultValueFactory = _ => d.Seed };
        var keepFirst = new Option<int?>("--keep-first") { Description = "Layers at the bottom kept whole (default 4 structured, 0 otherwise). First + last must leave a layer to prune: a model of 6 layers or fewer needs smaller values (refused otherwise)." };
        var keepLast = new Option<int?>("--keep-last") { Description = "Layers at the top kept whole (default 2 structured, 0 otherwise)." };
        var taylor = new Option<string>("--taylor") { Description = "stru importance: element (Σ|w·g|) or vector (|Σ w·g| per row/column).", DefaultValueFactory = _ => "element" };
        var device = CommonOptions.Device();
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON." };

        var command = new Command("prune", "Prune a model: structured (LoRAM-Rand, LoRAM-Stru) or non-structured (LoRAM-Semi, LoRAM-Unst, Wanda, magnitude).")
        {
            model, method, ratio, outDir, nm, calib, samples, seqLen, seed, keepFirst, keepLast, taylor, device, json,
        };
        command.SetAction(parse =>
        {
            PruningMethod m;
            SparsityTarget? target = null;
            TaylorVariant variant;
            try
            {
                m = PruningMethods.Parse(parse.GetValue(method)!);
                if (parse.GetValue(nm) is { } text) target = PruningMethods.ParseNM(text);
                variant = parse.GetValue(taylor) switch
                {
                    "element" => TaylorVariant.Element,
                    "vector" => TaylorVariant.Vector,
                    var other => throw new ArgumentException($"--taylor must be element or vector, got '{other}'"),
                };
            }
            catch (ArgumentException e) { throw new UserInputException(e.Message, e); }
            if (target is not null && m is PruningMethod.Rand or PruningMethod.Stru or PruningMethod.Unst)
                throw new UserInputException($"--nm applies to semi, wanda and magnitude, not {m.Name()}");
            if (parse.GetResult(ratio) is null && m is not PruningMethod.Semi && target is null)
                throw new UserInputException($"--ratio is required for {m.Name()}");

            var options = new PruneOptions
            {
                Model = parse.GetValue(model)!, Out = parse.GetValue(outDir)!, Method = m, Ratio = parse.GetValue(ratio), NM = target,
                Calibration = parse.GetValue(calib), Samples = parse.GetValue(samples), SeqLen = parse.GetValue(seqLen),
                Seed = parse.GetValue(seed), KeepFirst = parse.GetValue(keepFirst), KeepLast = parse.GetValue(keepLast), Taylor = variant,
            };
            var backend = CommonOptions.OpenBackend(parse.GetValue(device));
            PruneReport summary;
            using (backend)
            {
                try { summary = ConsoleProgress.Run(Console.Error, progress => ModelPruner.Run(options, backend, progress), prefix: "loram prune: "); }
                catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
            }

            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
                output.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            else
            {
                output.WriteLine($"wrote {summary.Out} ({summary.Method}{(summary.NM is null ? $" at ratio {summary.Ratio}" : $" {summary.NM}")}) in {summary.Seconds:F1} s");
                output.WriteLine($"  parameters  {summary.ParametersBefore:N0} → {summary.ParametersAfter:N0} ({summary.ReductionRatio:F2}× fewer{(summary.ReducesMemory ? "" : " nonzero; shapes and memory unchanged")})");
                if (summary.CalibrationLoss is double loss) output.WriteLine($"  calibration loss {loss:F4} on {summary.Samples} samples of {summary.SeqLen} tokens");
                if (summary.MeanRelativeError is double err) output.WriteLine($"  mean relative reconstruction error ‖ΔW X‖²/‖W X‖² = {err:E3}");
            }
            return 0;
        });
        return command;
    }
}
