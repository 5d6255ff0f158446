using System.CommandLine;
using LoRAM.Cli;

namespace LoRAM.Tests.Support;

/// <summary>
/// Runs `loram` commands in-process through the real <see cref="CliRunner"/> — the same flag parsing, exception
/// mapping and exit codes (0 ok, 2 bad input, 3 diverged, 1 internal error) as the executable — with stdout and stderr
/// captured. <see cref="Result.Error"/> holds stderr: "loram: error: …" lines for bad input.
/// </summary>
internal static class InProcessCli
{
    public readonly record struct Result(int Code, string Output, string Error);

    /// <summary>Every test that omits --device runs on the CPU backend, GPU or not (the CUDA tests say so explicitly).</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void PinDeviceToCpu() => Environment.SetEnvironmentVariable("LORAM_DEVICE", "cpu");

    public static Result Run(Command command, params string[] args) => Run([command], args);

    public static Result Run(IReadOnlyList<Command> commands, params string[] args)
    {
        var root = new RootCommand();
        foreach (var command in commands) root.Add(command);
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CliRunner.Run(root, args, output, error);
        return new(code, output.ToString(), error.ToString());
    }

    /// <summary>The one "loram: error: …" line of a refused command, which must name each of <paramref name="mentions"/>.</summary>
    public static string OneErrorLine(Result r, params string[] mentions)
    {
        var lines = r.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l.StartsWith("loram: ", StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count == 1, $"expected one loram: line on stderr (exit {r.Code}), got:\n{r.Error}");
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
        return lines[0];
    }
}
