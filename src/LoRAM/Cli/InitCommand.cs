using System.CommandLine;
using LoRAM.Planning;
using LoRAM.Training;

namespace LoRAM.Cli;

/// <summary><c>loram init</c>: a random-weight model folder of any LLaMA shape (Hugging Face layout, sharded above
/// --max-shard-mb), written streaming, so real sizes can be measured on one machine without downloading them.</summary>
internal static class InitCommand
{
    public static Command Create()
    {
        var d = new InitOptions { Config = null!, Out = "" };
        var config = new Option<string>("--config") { Description = $"config.json, a model folder, or a built-in name ({string.Join(", ", ModelPresets.Names)}).", Required = true };
        var outDir = new Option<string>("--out") { Description = "New folder for the model (must not exist or be empty).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the weights (same seed, same bytes).", DefaultValueFactory = _ => d.Seed };
        var dtype = new Option<string>("--dtype") { Description = "Stored dtype: bf16 or f32.", DefaultValueFactory = _ => CommonOptions.DTypeName(d.DType) };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Folder whose tokenizer files are copied along (without one, only commands that need no text can use the model)." };
        var shard = new Option<long>("--max-shard-mb") { Description = "Largest weight file in MB (10⁶ bytes); above it the weights are sharded with model.safetensors.index.json.", DefaultValueFactory = _ => d.MaxShardBytes / 1_000_000 };
        var json = CommonOptions.Json();
        var command = new Command("init", "Write a random-weight model folder of a LLaMA shape (built-in name or config.json), streaming.")
        {
            config, outDir, seed, dtype, tokenizer, shard, json,
        };
        command.SetAction(parse =>
        {
            var options = new InitOptions
            {
                Config = ModelPresets.Resolve(parse.GetValue(config)!), Out = parse.GetValue(outDir)!, Seed = parse.GetValue(seed),
                DType = CommonOptions.ParseDType(parse.GetValue(dtype)!), Tokenizer = parse.GetValue(tokenizer),
                MaxShardBytes = parse.GetValue(shard) * 1_000_000,
            };
            var report = ConsoleProgress.Run(parse.InvocationConfiguration.Error, progress => ModelInit.Run(options, progress));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(ReportJson.Serialize(report));
            else output.WriteLine($"wrote {report.Out}: {report.Parameters:N0} parameters, {report.Bytes / 1e9:F2} GB {report.Dtype} in {string.Join(", ", report.Files)} ({report.Seconds:F1} s)");
            return 0;
        });
        return command;
    }
}
