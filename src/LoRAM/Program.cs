using System.CommandLine;
using LoRAM.Cli;

// `loram`: each subcommand lives in Cli/ as one static class with a Create() that returns its Command.
var root = new RootCommand("LoRAM.NET — train LoRA on a pruned LLaMA, recover it, and serve it with the original model.")
{
    DevicesCommand.Create(),
    DataCommand.Create(),
    PretrainCommand.Create(),
};
return CliRunner.Run(root, args);
