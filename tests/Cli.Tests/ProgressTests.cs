using LoRAM.Llama.Tests.Support;
using System.Text.RegularExpressions;
using LoRAM.Cli;
using LoRAM.Llama.Model;
using LoRAM.Progress;
using LoRAM.Pruning;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;
using LoRAM.Tests.Training;
using LoRAM.Training;
using Spectre.Console;

namespace LoRAM.Tests.Progress;

/// <summary>
/// Progress of the long steps: redirected stderr keeps exactly the log lines it always had; a terminal gets bars that
/// name the task, carry the latest figures and end at 100 %; the mode follows stderr and LORAM_PROGRESS.
/// </summary>
public sealed class ProgressTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-progress-").FullName;
    private readonly CpuBackend _cpu = new(1);

    public void Dispose()
    {
        _cpu.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    // The trainer's step line as it was before there were bars (docs and scripts grep it).
    private static readonly Regex StepLine = new(
        @"^step (\d+)/7  loss \d+\.\d{4}  lr \d\.\d{2}E[-+]\d{3}  \|g\| \d+\.\d{3}  [\d,]+ tok/s  " +
        @"mem MB: params \d+\.\d grads\(peak\) \d+\.\d adam \d+\.\d act\(peak\) \d+\.\d total\(peak\) \d+\.\d$");

    private TrainingSummary Train(IProgressReporter progress, int steps = 7, int logEvery = 3)
    {
        using var model = TinyTraining.Model(_cpu);
        using var trainer = new Trainer(_cpu, TinyTraining.Trainable(model), new PackedCorpus(TinyTraining.Stream(), 32, 1),
            TinyTraining.Options(Path.Combine(_dir, "train"), steps) with { LogEvery = logEvery }, progress: progress);
        return trainer.Run();
    }

    /// <summary>A console like the CLI's (ANSI, interactive) that writes into <paramref name="writer"/>.</summary>
    private static IAnsiConsole Terminal(StringWriter writer) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.Yes, Interactive = InteractionSupport.Yes, ColorSystem = ColorSystemSupport.NoColors,
    });

    // ---- line mode: the lines of before ----------------------------------------------------------

    [Fact]
    public void Line_mode_prints_the_trainer_step_lines_of_before_on_the_first_every_log_every_and_last_step()
    {
        var log = new StringWriter();
        Train(new LineProgress(log));
        var lines = log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        Assert.All(lines, l => Assert.Matches(StepLine, l));
        Assert.Equal([1, 3, 6, 7], lines.Select(l => int.Parse(StepLine.Match(l).Groups[1].Value)));
    }

    [Fact]
    public void Line_mode_prints_plain_lines_verbatim_and_a_task_only_its_due_lines()
    {
        var log = new StringWriter();
        var progress = new LineProgress(log);
        progress.Line("train: LoRA r=8 [masked]");
        using (var task = progress.Start("eval", 3))
        {
            task.Update(1, "1/3 right");
            task.Update(2, "2/3 right", "item 2 done");
            task.Update(3);
        }
        Assert.Equal($"train: LoRA r=8 [masked]{Environment.NewLine}item 2 done{Environment.NewLine}", log.ToString());
    }

    [Fact]
    public void A_pipeline_stage_indents_its_lines_under_the_row_as_before()
    {
        var log = new StringWriter();
        var stage = new NestedProgress(new LineProgress(log), "    ", "base-lora");
        stage.Line("train: LoRA r=8");
        using (var task = stage.Start("train", 2)) task.Update(1, "loss 1.0", "step 1/2  loss 1.0");
        Assert.Equal($"    train: LoRA r=8{Environment.NewLine}    step 1/2  loss 1.0{Environment.NewLine}", log.ToString());
    }

    [Fact]
    public void Line_mode_prints_the_pruning_layer_lines_of_before()
    {
        using var dir = new TempFolder();
        var path = Path.Combine(dir.Path, "model");
        TinyLlama.Write(path, new TinyLlamaOptions { Layers = 3, Hidden = 64, Heads = 4, KvHeads = 2, Intermediate = 96, Seed = 21 });
        using var model = LlamaModel.Load(path, _cpu, new LlamaModelOptions { FrozenDType = DType.F32 });
        var log = new StringWriter();
        SequentialPruning.Run(model, [], 0, PruningMethod.Magnitude, SparsityTarget.Unstructured(0.5), keepFirst: 1, keepLast: 0, new LineProgress(log));
        var lines = log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal(3, lines.Count);
        Assert.Equal("layer 1/3: kept whole", lines[0]);
        Assert.Matches(@"^layer 2/3: pruned 7 projections \(.+\) in \d+\.\d\d s$", lines[1]);
        Assert.Matches(@"^layer 3/3: pruned 7 projections \(.+\) in \d+\.\d\d s$", lines[2]);
    }

    // ---- bar mode ----------------------------------------------------------------------------------

    [Fact]
    public void Bars_show_the_description_with_the_latest_figures_and_reach_100_percent()
    {
        var screen = new StringWriter();
        ProgressBars.Run(Terminal(screen), progress =>
        {
            progress.Line("[1/3] LoRA on the base model …");
            using var task = progress.Start("train base-lora", 4);
            for (int step = 1; step <= 4; step++) task.Update(step, $"loss {5 - step}.0000  1,234 tok/s", $"step {step}/4  loss …");
            return 0;
        });
        var text = screen.ToString();
        Assert.Contains("[1/3] LoRA on the base model …", text);          // a line, not markup
        Assert.Contains("train base-lora  loss 1.0000  1,234 tok/s", text);
        Assert.Contains("100%", text);
        Assert.DoesNotContain("step 4/4", text);                           // the bar replaces the step lines
    }

    [Fact]
    public void A_bar_that_stops_early_does_not_claim_100_percent()
    {
        var screen = new StringWriter();
        ProgressBars.Run(Terminal(screen), progress =>
        {
            using var task = progress.Start("prune", 4);
            task.Update(2, "layer 2/4");
            return 0;
        });
        var text = screen.ToString();
        Assert.Contains("prune  layer 2/4", text);
        Assert.Contains("50%", text);
        Assert.DoesNotContain("100%", text);
    }

    [Fact]
    public void The_trainer_drives_a_bar_to_100_percent_with_its_loss_and_throughput()
    {
        var screen = new StringWriter();
        var summary = ProgressBars.Run(Terminal(screen), progress => Train(progress, steps: 5, logEvery: 1));
        var text = screen.ToString();
        Assert.Equal(5, summary.Steps);
        Assert.Matches(@"train  loss \d+\.\d{4}  [\d,]+ tok/s", text);
        Assert.Contains("100%", text);
        Assert.DoesNotContain("mem MB", text);
    }

    // ---- choosing the mode -----------------------------------------------------------------------

    [Theory]
    [InlineData(false, null, true)]
    [InlineData(false, "", true)]
    [InlineData(false, "bars", true)]
    [InlineData(false, "lines", false)]
    [InlineData(false, " LINES ", false)]
    [InlineData(true, null, false)]
    [InlineData(true, "bars", false)]
    public void Bars_only_on_a_terminal_stderr_unless_LORAM_PROGRESS_asks_for_lines(bool redirected, string? variable, bool bars) =>
        Assert.Equal(bars, ConsoleProgress.UseBars(redirected, variable));

    [Fact]
    public void A_command_run_with_its_own_error_writer_gets_the_plain_lines()
    {
        var error = new StringWriter();
        ConsoleProgress.Run(error, progress =>
        {
            Assert.IsNotType<ProgressBars>(progress);
            progress.Line("pretrain: 1,000 parameters");
        }, prefix: "loram prune: ");
        Assert.Equal($"loram prune: pretrain: 1,000 parameters{Environment.NewLine}", error.ToString());
    }
}
