using LoRAM.Cli;
using LoRAM.Llama;
using LoRAM.Llama.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary>Outputs are written atomically and output folders are checked before work starts; failures are the
/// user's to fix and map to exit code 2 in one line.</summary>
public sealed class OutputSafetyTests
{
    [Fact]
    public void Ensure_writable_creates_a_missing_folder_and_leaves_no_probe_behind()
    {
        using var dir = new TempFolder();
        var target = Path.Combine(dir.Path, "a", "b");
        Assert.Equal(Path.GetFullPath(target), OutputFolder.EnsureWritable(target));
        Assert.True(Directory.Exists(target));
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public void Ensure_writable_names_a_file_in_the_way()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("f"), "x");
        Rejection.Expect<UserInputException>(() => OutputFolder.EnsureWritable(dir.File("f")), dir.File("f"), "is a file");
        var under = Path.Combine(dir.File("f"), "sub");
        Rejection.Expect<UserInputException>(() => OutputFolder.EnsureWritable(under), under, "cannot create");
    }

    [Fact]
    public void Ensure_writable_names_a_read_only_folder()
    {
        using var dir = new TempFolder();
        var (folder, restore) = CliEndToEndTests.ReadOnlyFolder(dir);
        try { Rejection.Expect<UserInputException>(() => OutputFolder.EnsureWritable(folder), folder, "not writable"); }
        finally { restore(); }
    }

    [Fact]
    public void Ensure_writable_refuses_an_output_larger_than_the_free_space()
    {
        using var dir = new TempFolder();
        Rejection.Expect<UserInputException>(() => OutputFolder.EnsureWritable(dir.Path, bytesNeeded: long.MaxValue), dir.Path, "free");
        OutputFolder.EnsureWritable(dir.Path, bytesNeeded: 1);
    }

    [Fact]
    public void A_failed_atomic_write_keeps_the_old_content_and_deletes_the_temporary_file()
    {
        using var dir = new TempFolder();
        var path = dir.File("report.json");
        AtomicFile.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, fs =>
        {
            fs.Write("new, half written"u8);
            throw new InvalidOperationException("killed mid-write");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.False(File.Exists(AtomicFile.TemporaryPath(path)));
        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal(["report.json"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_stale_temporary_file_from_a_killed_run_does_not_block_the_next_write()
    {
        using var dir = new TempFolder();
        var path = dir.File("model.safetensors");
        File.WriteAllText(AtomicFile.TemporaryPath(path), "leftover of a killed run");
        AtomicFile.WriteAllText(path, "complete");
        Assert.Equal("complete", File.ReadAllText(path));
        Assert.False(File.Exists(AtomicFile.TemporaryPath(path)));
    }

    [Theory]
    [InlineData(typeof(UserInputException))]
    [InlineData(typeof(LlamaFormatException))]
    [InlineData(typeof(DirectoryNotFoundException))]
    [InlineData(typeof(UnauthorizedAccessException))]
    [InlineData(typeof(IOException))]
    public void Bad_input_and_file_system_errors_are_the_users_to_fix(Type type)
    {
        var e = type == typeof(UserInputException) ? new UserInputException("/data/x: something is wrong")
            : (Exception)Activator.CreateInstance(type, "/data/x: something is wrong")!;
        Assert.Contains("/data/x", CliRunner.UserMessage(e));
    }

    [Fact]
    public void A_missing_file_is_named_and_bugs_stay_internal_errors()
    {
        Assert.Equal("/data/train.jsonl: file not found", CliRunner.UserMessage(new FileNotFoundException("gone", "/data/train.jsonl")));
        Assert.Null(CliRunner.UserMessage(new IndexOutOfRangeException()));
        Assert.Null(CliRunner.UserMessage(new System.Text.Json.JsonException("leaked")));
        Assert.Equal("a b", CliRunner.OneLine("a\nb\n"));
    }

    [Fact]
    public void Training_that_diverges_in_any_command_exits_3_with_one_line_naming_the_last_checkpoint()
    {
        var command = new System.CommandLine.Command("diverge");
        command.SetAction(new Func<System.CommandLine.ParseResult, int>(_ => throw new LoRAM.Training.TrainingDivergedException(7, "loss is NaN", "/runs/x/checkpoints/step-00000005")));
        var root = new System.CommandLine.RootCommand { command };
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        int code;
        try { code = CliRunner.Run(root, ["diverge"]); }
        finally { Console.SetError(saved); }
        Assert.Equal(3, code);
        Assert.Contains("loram: training stopped: loss is NaN at step 7", error.ToString());
        Assert.Contains("/runs/x/checkpoints/step-00000005", error.ToString());
    }
}
