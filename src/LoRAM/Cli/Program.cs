using System.CommandLine;
using LoRAM.Cli;

// `loram`: each subcommand lives in Cli/ as one static class with a Create() that returns its Command.
var root = new RootCommand("LoRAM.NET — train LoRA on a pruned LLaMA, recover it, and serve it with the original model.")
{
    DevicesCommand.Create(),
    TokenizeCommand.Create(),
    DataCommand.Create(),
    InitCommand.Create(),
    GenerateCommand.Create(),
    EvalCommand.Create(),
    QuantizeCommand.Create(),
    MergeCommand.Create(),
    RecoverCommand.Create(),
    PruneCommand.Create(),
    PlanCommand.Create(),
    PretrainCommand.Create(),
    TrainCommand.Create(),
    AlignCommand.Create(),
    PipelineCommand.Create(),
};
return CliRunner.Run(root, args);
