using System.CommandLine;
using LoRAM.Cli;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors.Ilgpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary>The commands no other test ran to completion, and the runner's exit code for a bug (1), all through
/// <see cref="CliRunner.Run(RootCommand, string[], TextWriter, TextWriter)"/>. (train's 0, 2 and 3 are in
/// <see cref="TrainResumeTests"/>; every command's 2 in <see cref="OptionValidationTests"/>.)</summary>
public sealed class CommandExitCodeTests
{
    [Fact]
    public void Devices_lists_the_backends_and_names_the_default_from_loram_device()
    {
        var r = InProcessCli.Run(DevicesCommand.Create(), "devices");
        Assert.Equal(0, r.Code);
        var lines = r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["cpu", "ilgpu-cpu", "cuda", "default"], lines.Select(l => l.Split(' ')[0]));
        Assert.Contains(IlgpuBackend.CudaAvailable ? "NVIDIA GPU found" : "not available", lines[2]);
        Assert.Equal("default    cpu (LORAM_DEVICE)", lines[3]);   // the test harness pins LORAM_DEVICE=cpu
        Assert.Equal(2, InProcessCli.Run(DevicesCommand.Create(), "devices", "--bogus").Code);
    }

    [Fact]
    public void Pipeline_runs_a_row_on_tiny_models_and_writes_its_report()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.File("models/base"), new TinyLlamaOptions { MaxPositions = 512 });
        TinyLlama.Write(dir.File("models/sibling"), new TinyLlamaOptions { MaxPositions = 512, Seed = 2 });
        var r = InProcessCli.Run(PipelineCommand.Create(), "pipeline", "--models", dir.File("models"), "--out", dir.File("run"), "--variants", "base",
            "--eval-items", "2", "--math-items", "1");
        Assert.True(r.Code == 0, r.Error);
        Assert.Contains("| base", r.Output);
        Assert.True(File.Exists(dir.File("run/report.md")));
        Assert.True(File.Exists(dir.File("run/variants/base/result.json")));
        Assert.False(File.Exists(dir.File("run/.loram.lock")));
    }

    [Fact]
    public void A_bug_is_an_internal_error_exit_1_in_one_line()
    {
        var command = new Command("buggy");
        command.SetAction(new Func<ParseResult, int>(_ => throw new IndexOutOfRangeException("index 9 of 3")));
        var r = InProcessCli.Run(command, "buggy");
        Assert.Equal(1, r.Code);
        Assert.Equal("loram: internal error: IndexOutOfRangeException: index 9 of 3", r.Error.Trim());
    }
}
