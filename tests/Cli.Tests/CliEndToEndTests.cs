using System.Diagnostics;
using LoRAM.Llama.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary>
/// The real <c>loram</c> executable run as a child process: bad input gives exit code 2 and exactly one
/// "loram: error: ..." line on stderr naming the path — no stack trace, nothing on stdout.
/// </summary>
public sealed class CliEndToEndTests
{
    private static (int Code, string Stdout, string Stderr) Loram(params string[] args) => Loram(new Dictionary<string, string>(), args);

    private static (int Code, string Stdout, string Stderr) Loram(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "loram.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project must reference src/LoRAM");
        var host = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        var psi = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("LORAM_DEBUG");
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"loram {string.Join(' ', args)} did not finish in 60 s");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void Device_and_environment_errors_are_bad_input_naming_their_source()
    {
        using var dir = new TempFolder();
        string[] Data() => SmallData(dir.File($"d{Guid.NewGuid():N}"));
        var badFlag = Loram(["eval", "--model", dir.Path, "--tokens", "x", "--device", "tpu"]);
        Assert.Equal(2, badFlag.Code);
        AssertOneErrorLine(badFlag.Stderr, "--device", "unknown device 'tpu'");
        var badVariable = Loram(new Dictionary<string, string> { ["LORAM_DEVICE"] = "tpu" }, ["eval", "--model", dir.Path, "--tokens", "x"]);
        Assert.Equal(2, badVariable.Code);
        AssertOneErrorLine(badVariable.Stderr, "LORAM_DEVICE", "unknown device 'tpu'");
        foreach (var threads in new[] { "abc", "0", "-2" })
        {
            var r = Loram(new Dictionary<string, string> { ["LORAM_THREADS"] = threads }, Data());
            Assert.Equal(2, r.Code);
            AssertOneErrorLine(r.Stderr, "LORAM_THREADS", $"'{threads}'");
        }
        // CUDA: refused in one line where no GPU is present; where one is, the command runs on it.
        var cuda = Loram(["eval", "--model", dir.Path, "--tokens", "x", "--device", "cuda"]);
        Assert.Equal(2, cuda.Code);
        if (LoRAM.Tensors.Ilgpu.IlgpuBackend.CudaAvailable) AssertOneErrorLine(cuda.Stderr, "not a model folder");
        else AssertOneErrorLine(cuda.Stderr, "--device", "no NVIDIA GPU");
    }

    private static string[] SmallData(string outDir) => ["data", "--out", outDir, "--corpus-chars", "2000", "--instructions", "20", "--eval-size", "5"];

    private static void AssertOneErrorLine(string stderr, params string[] mentions)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{stderr}");
        Assert.StartsWith("loram: error: ", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }

    [Fact]
    public void Loram_data_into_a_new_folder_succeeds_with_exit_code_0()
    {
        using var dir = new TempFolder();
        var (code, stdout, stderr) = Loram(SmallData(dir.File("out")));
        Assert.True(code == 0, stderr);
        Assert.Equal("", stderr);
        Assert.Contains("instructions.jsonl", stdout);
    }

    [Fact]
    public void Loram_data_with_a_file_as_out_exits_2_with_one_line_naming_the_file()
    {
        using var dir = new TempFolder();
        var file = dir.File("plain.txt");
        File.WriteAllText(file, "x");
        var (code, stdout, stderr) = Loram(SmallData(file));
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        AssertOneErrorLine(stderr, file, "is a file");
        Assert.Equal("x", File.ReadAllText(file));   // untouched
    }

    [Fact]
    public void Loram_data_under_a_file_exits_2_with_one_line_naming_the_folder()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("plain.txt"), "x");
        var under = Path.Combine(dir.File("plain.txt"), "out");
        var (code, _, stderr) = Loram(SmallData(under));
        Assert.Equal(2, code);
        AssertOneErrorLine(stderr, under, "cannot create the folder");
    }

    [Fact]
    public void Loram_data_into_a_read_only_folder_exits_2_before_writing_anything()
    {
        using var dir = new TempFolder();
        var (folder, restore) = ReadOnlyFolder(dir);
        try
        {
            var (code, _, stderr) = Loram(SmallData(folder));
            Assert.Equal(2, code);
            AssertOneErrorLine(stderr, folder, "not writable");
            Assert.Empty(Directory.GetFiles(folder, "*.jsonl"));
        }
        finally { restore(); }
    }

    [Theory]
    [InlineData("0", "--eval-size must be 1 or more")]
    [InlineData("many", "'many'")]
    public void A_bad_flag_value_exits_2_with_one_line_naming_the_flag(string value, string mention)
    {
        using var dir = new TempFolder();
        var (code, stdout, stderr) = Loram("data", "--out", dir.File("out"), "--eval-size", value);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        AssertOneErrorLine(stderr, "--eval-size", mention);
        Assert.False(Directory.Exists(dir.File("out")));
    }

    [Fact]
    public void A_missing_required_flag_exits_2_with_one_line_naming_it()
    {
        var (code, _, stderr) = Loram("data");
        Assert.Equal(2, code);
        AssertOneErrorLine(stderr, "--out");
    }

    /// <summary>A folder this process cannot write: mode 0555, or — as root, whom permissions do not stop — a /proc
    /// folder, which no one can create files in.</summary>
    internal static (string Folder, Action Restore) ReadOnlyFolder(TempFolder dir)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("Unix file modes");
        var folder = dir.File("readonly");
        Directory.CreateDirectory(folder);
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        void Restore() { if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); }
        try
        {
            File.WriteAllText(Path.Combine(folder, "probe"), "");
            File.Delete(Path.Combine(folder, "probe"));
        }
        catch (UnauthorizedAccessException) { return (folder, Restore); }
        Restore();
        return ("/proc/self", () => { });   // running as root
    }
}
