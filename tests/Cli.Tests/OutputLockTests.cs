using System.CommandLine;
using System.Diagnostics;
using LoRAM.Cli;
using LoRAM.Llama;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary>One run per output folder: while a run holds a folder's lock, every command that writes that folder is
/// refused with one line naming the holder's pid (exit 2); a lock left by a dead process is taken over.</summary>
public sealed class OutputLockTests(CliInputs inputs) : IClassFixture<CliInputs>
{
    private static readonly Command[] All =
    [
        TrainCommand.Create(), PretrainCommand.Create(), AlignCommand.Create(), PruneCommand.Create(), DataCommand.Create(), PipelineCommand.Create(),
        QuantizeCommand.Create(), MergeCommand.Create(), RecoverCommand.Create(),
    ];

    public static TheoryData<string, bool> Commands => new()
    {
        { "train", true }, { "pretrain", true }, { "align", true }, { "data", true }, { "pipeline", true }, { "quantize", true },
        { "prune", false }, { "merge", false }, { "recover", false },
    };

    private string[] Args(string command, string outDir) => command switch
    {
        "train" => ["train", "--model", inputs.Model, "--data", inputs.Instructions, "--out", outDir, "--seq-len", "96", "--steps", "1", "--batch", "1", "--micro-batch", "1"],
        "pretrain" => ["pretrain", "--config", "sibling", "--data", inputs.Corpus, "--tokens", "64", "--out", outDir, "--seq-len", "32", "--batch", "1"],
        "align" => ["align", "--model", inputs.Model, "--data", inputs.Corpus, "--tokens", "64", "--out", outDir, "--seq-len", "32", "--batch", "1"],
        "data" => ["data", "--out", outDir, "--corpus-chars", "1000", "--instructions", "5", "--eval-size", "3"],
        "pipeline" => ["pipeline", "--models", inputs.Models, "--out", outDir, "--variants", "base", "--eval-items", "2", "--math-items", "1"],
        "quantize" => ["quantize", "--model", inputs.Model, "--out", outDir],
        "prune" => ["prune", "--model", inputs.Model, "--method", "rand", "--ratio", "0.5", "--keep-first", "0", "--keep-last", "0", "--out", outDir],
        "merge" => ["merge", "--model", inputs.Model, "--adapter", inputs.Dir.Path, "--out", outDir],
        "recover" => ["recover", "--pruned", inputs.Model, "--adapter", inputs.Dir.Path, "--model", inputs.Model, "--out", outDir],
        _ => throw new ArgumentException(command),
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_second_run_into_a_held_output_folder_is_refused_naming_the_holders_pid(string command, bool inside)
    {
        string outDir = inputs.Dir.File("locked-" + command);
        using (inside ? LoRAM.OutputLock.Inside(outDir) : LoRAM.OutputLock.Beside(outDir))
        {
            var r = InProcessCli.Run(All, Args(command, outDir));
            Assert.Equal(2, r.Code);
            InProcessCli.OneErrorLine(r, outDir, $"another run (pid {Environment.ProcessId}) is writing this output folder");
        }
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(outDir)!, "*.loram.lock"));
    }

    [Fact]
    public void A_lock_left_by_a_dead_process_is_taken_over_and_released_after_the_run()
    {
        string outDir = inputs.Dir.File("stale-lock");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, LoRAM.OutputLock.FileName), DeadPid().ToString());
        var r = InProcessCli.Run(All, Args("data", outDir));
        Assert.True(r.Code == 0, r.Error);
        Assert.False(File.Exists(Path.Combine(outDir, LoRAM.OutputLock.FileName)));
        Assert.True(File.Exists(Path.Combine(outDir, "instructions.jsonl")));
    }

    /// <summary>The pid of a process that has exited.</summary>
    internal static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        Assert.False(AtomicFolder.IsAlive(p.Id));
        return p.Id;
    }
}
