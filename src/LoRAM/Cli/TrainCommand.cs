using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoRAM.Lora;
using LoRAM.Training;

namespace LoRAM.Cli;

/// <summary><c>loram train</c>: LoRA SFT on instruction JSONL (the model may be pruned, aligned or NF4); writes a PEFT adapter.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var d = new LoraTrainingOptions { Model = "", Data = "", Out = "" };
        var model = CommonOptions.Model("Model folder to train on (for LoRAM: the pruned, optionally aligned, model).");
        var data = new Option<string>("--data") { Description = "Training data: Alpaca {instruction, input, output} (JSONL or a JSON array), ShareGPT {conversations} or HF {messages} JSONL; loss on every assistant turn.", Required = true };
        var template = new Option<string?>("--template") { Description = $"Prompt format: {string.Join(", ", LoRAM.Data.ChatTemplates.Names)} (default: the model's chat_template family, else alpaca)." };
        var outDir = new Option<string>("--out") { Description = "Folder for the adapter, loss curve, report and checkpoints.", Required = true };
        var rank = new Option<int>("--rank") { Description = "LoRA rank r.", DefaultValueFactory = _ => d.Lora.Rank };
        var alpha = new Option<float>("--alpha") { Description = "LoRA alpha (scaling alpha/r).", DefaultValueFactory = _ => d.Lora.Alpha };
        var dropout = new Option<float>("--lora-dropout") { Description = "Dropout on the LoRA input.", DefaultValueFactory = _ => d.Lora.Dropout };
        var targets = new Option<string>("--targets")
        {
            Description = "Comma-separated modules: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj[,lm_head].",
            DefaultValueFactory = _ => string.Join(',', d.Lora.TargetModules),
        };
        var rslora = new Option<bool>("--rslora") { Description = "Scale by alpha/√r (rsLoRA) instead of alpha/r." };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps (0 = one epoch).", DefaultValueFactory = _ => d.Steps };
        var batch = new Option<int>("--batch") { Description = "Sequences per optimizer step.", DefaultValueFactory = _ => d.Batch };
        var micro = new Option<int>("--micro-batch") { Description = "Sequences per forward/backward pass (gradient accumulation).", DefaultValueFactory = _ => d.MicroBatch };
        var seqLen = new Option<int>("--seq-len") { Description = "Longest example in tokens (longer prompts are cut from the left).", DefaultValueFactory = _ => d.MaxLength };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (paper: 1e-3).", DefaultValueFactory = _ => d.LearningRate };
        var warmup = new Option<int?>("--warmup") { Description = "Warm-up steps (default 5% of the steps)." };
        var wd = new Option<double>("--weight-decay") { Description = "AdamW weight decay.", DefaultValueFactory = _ => d.WeightDecay };
        var seed = new Option<int>("--seed") { Description = "Seed of the adapter's initialisation, data order and dropout.", DefaultValueFactory = _ => d.Seed };
        var nf4 = new Option<bool>("--nf4") { Description = "QLoRAM: store the frozen projections in NF4 while training." };
        var eval = new Option<string?>("--eval") { Description = "Held-out instruction JSONL: response perplexity every --eval-every steps." };
        var evalEvery = new Option<int>("--eval-every") { Description = "Steps between evaluations (default: at the end).", DefaultValueFactory = _ => d.EvalEvery };
        var evalItems = new Option<int>("--eval-items") { Description = "Items of --eval to score.", DefaultValueFactory = _ => d.EvalItems };
        var ckEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints (0 = only the final one, after the last step).", DefaultValueFactory = _ => d.CheckpointEvery };
        var resume = new Option<bool>("--resume")
        {
            Description = "Continue from the latest checkpoint in --out, exactly: every setting that changes the adapter (model and data content, " +
                "LoRA settings, --nf4, --seq-len, --batch, --micro-batch, --seed, the schedule) must be the checkpoint's. Allowed changes: a lower " +
                "--lr and a longer --warmup (after a divergence), and --time-limit, --eval-every, --eval, --eval-items, --checkpoint-every.",
        };
        var ckLayers = new Option<bool>("--checkpoint-layers") { Description = "Recompute each layer in the backward pass (less activation memory)." };
        var timeLimit = new Option<double>("--time-limit") { Description = "Stop with a checkpoint after this many seconds (0 = none).", DefaultValueFactory = _ => d.TimeLimitSeconds };
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("train", "LoRA fine-tuning on instruction data (response-only loss); writes a PEFT adapter.")
        {
            model, data, template, outDir, rank, alpha, dropout, targets, rslora, steps, batch, micro, seqLen, lr, warmup, wd, seed, nf4,
            eval, evalEvery, evalItems, ckEvery, resume, ckLayers, timeLimit, device, json,
        };
        command.SetAction(parse =>
        {
            var o = new LoraTrainingOptions
            {
                Model = parse.GetValue(model)!, Data = parse.GetValue(data)!, Out = parse.GetValue(outDir)!, Template = parse.GetValue(template),
                Lora = new LoraSettings
                {
                    Rank = parse.GetValue(rank), Alpha = parse.GetValue(alpha), Dropout = parse.GetValue(dropout), UseRsLora = parse.GetValue(rslora),
                    TargetModules = parse.GetValue(targets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                },
                Steps = parse.GetValue(steps), Batch = parse.GetValue(batch), MicroBatch = parse.GetValue(micro), MaxLength = parse.GetValue(seqLen),
                LearningRate = parse.GetValue(lr), Warmup = parse.GetValue(warmup), WeightDecay = parse.GetValue(wd), Seed = parse.GetValue(seed),
                Nf4 = parse.GetValue(nf4), Eval = parse.GetValue(eval), EvalEvery = parse.GetValue(evalEvery), EvalItems = parse.GetValue(evalItems),
                CheckpointEvery = parse.GetValue(ckEvery), Resume = parse.GetValue(resume), CheckpointLayers = parse.GetValue(ckLayers),
                TimeLimitSeconds = parse.GetValue(timeLimit),
            };
            var error = parse.InvocationConfiguration.Error;
            LoraTrainingReport report;
            using (var backend = CommonOptions.OpenBackend(parse.GetValue(device)))
                report = ConsoleProgress.Run(error, progress => LoraTraining.Run(o, backend, progress));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(ReportJson.Serialize(report));
            else if (!report.Completed)
                output.WriteLine($"stopped at step {report.Steps} of {report.PlannedSteps} (time limit); continue with --resume");
            else
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"wrote adapter {report.Out}: {report.Steps} steps, loss {report.FirstLoss:F4} → {report.FinalLoss:F4}, {report.TokensPerS:N0} tok/s"));
            return 0;
        });
        return command;
    }
}
