using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Training;

namespace LoRAM.Cli;

/// <summary>
/// <c>loram align</c> (paper §3.3, Eq. 8): a short full-parameter continual pre-training of the pruned model on a
/// general corpus, with teacher forcing, so its knowledge is consistent with the original model's before LoRA
/// training. The same trainer as <c>loram pretrain</c>, starting from the pruned weights; the pruning record
/// (and masks, which stay enforced) travel with the aligned model.
/// </summary>
internal static class AlignCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model("The pruned model folder to align.");
        var data = new Option<string>("--data") { Description = "General corpus (plain text) to continue pre-training on.", Required = true };
        var tokens = new Option<long>("--tokens") { Description = "Training tokens.", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder for the aligned model (with the pruning record), loss curve, report.", Required = true };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per training window.", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch") { Description = "Windows per optimizer step.", DefaultValueFactory = _ => 16 };
        var micro = new Option<int>("--micro-batch") { Description = "Windows per forward/backward pass (0 = the whole batch).", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (lower than pre-training: the weights are already trained).", DefaultValueFactory = _ => 5e-4 };
        var seed = new Option<int>("--seed") { Description = "Seed of the data order.", DefaultValueFactory = _ => 1 };
        var ckEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => 100 };
        var evalSeqs = new Option<int>("--eval-sequences") { Description = "Held-out windows for the eval loss.", DefaultValueFactory = _ => 16 };
        var resume = new Option<bool>("--resume") { Description = "Continue from the latest checkpoint in --out, exactly." };
        var dtype = new Option<string>("--dtype") { Description = "Weights dtype of the saved model: f32 or bf16.", DefaultValueFactory = _ => "bf16" };
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("align", "Align a pruned model by a short continual pre-training (LoRAM's alignment).")
        {
            model, data, tokens, outDir, seqLen, batch, micro, lr, seed, ckEvery, evalSeqs, resume, dtype, device, json,
        };
        command.SetAction(parse =>
        {
            var folder = parse.GetValue(model)!;
            if (!File.Exists(Path.Combine(folder, "config.json"))) throw new UserInputException($"{folder}: not a model folder (no config.json)");
            var a = new PretrainCommand.Arguments(folder, parse.GetValue(data)!, parse.GetValue(tokens), parse.GetValue(outDir)!,
                parse.GetValue(seqLen), parse.GetValue(batch), parse.GetValue(micro), parse.GetValue(lr), MinLrRatio: 0.1, Warmup: null,
                WeightDecay: 0.1, Clip: 1.0, parse.GetValue(seed), parse.GetValue(ckEvery), KeepCheckpoints: 2, EvalEvery: 0,
                parse.GetValue(evalSeqs), LogEvery: 10, parse.GetValue(resume), parse.GetValue(device), parse.GetValue(dtype)!,
                CheckpointLayers: false, InitFrom: folder);
            var report = ConsoleProgress.Run(parse.InvocationConfiguration.Error, progress => PretrainCommand.Run(a, progress));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"aligned {folder} → {report["out"]}: {report["steps"]} steps, loss {(double)report["first_loss"]!:F4} → {(double)report["final_loss"]!:F4}"));
            return 0;
        });
        return command;
    }
}
