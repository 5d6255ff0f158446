using System.CommandLine;
using LoRAM.Llama;
using LoRAM.Training;

namespace LoRAM.Cli;

/// <summary>Runs the command line and turns failures into one-line messages with the project's exit codes:
/// 0 success, 2 bad input (<see cref="UserInputException"/>, <see cref="LlamaFormatException"/>, missing or
/// unreadable files, unwritable outputs), 3 training stopped on a non-finite loss or gradient
/// (<see cref="TrainingDivergedException"/>, from any command that trains), 1 internal error.</summary>
internal static class CliRunner
{
    public static int Run(RootCommand root, string[] args) => Run(root, args, Console.Out, Console.Error);

    /// <summary>Runs <paramref name="args"/> with the commands' output going to <paramref name="output"/> and progress and
    /// errors to <paramref name="error"/> (tests run the real runner in-process this way).</summary>
    public static int Run(RootCommand root, string[] args, TextWriter output, TextWriter error)
    {
        try
        {
            // Flag errors are bad input too: one line and exit 2, not System.CommandLine's help page and exit 1.
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0)
            {
                error.WriteLine($"loram: error: {OneLine(string.Join("; ", parse.Errors.Select(e => e.Message)))} (--help shows the usage)");
                return 2;
            }
            CommonOptions.CheckEnvironment();
            // Our handler, not System.CommandLine's: its default one would print a stack trace and return 1 for bad input.
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (TrainingDivergedException e)
        {
            error.WriteLine($"loram: training stopped: {OneLine(e.Message)}");
            return 3;
        }
        catch (Exception e) when (UserMessage(e) is string message)
        {
            error.WriteLine($"loram: error: {OneLine(message)}");
            if (Environment.GetEnvironmentVariable("LORAM_DEBUG") == "1") error.WriteLine(e);
            return 2;
        }
        catch (Exception e)
        {
            error.WriteLine($"loram: internal error: {e.GetType().Name}: {OneLine(e.Message)}");
            if (Environment.GetEnvironmentVariable("LORAM_DEBUG") == "1") error.WriteLine(e);
            return 1;
        }
    }

    /// <summary>The message for the person at the keyboard when <paramref name="e"/> is their input's fault (a bad
    /// file or flag, a missing path, a folder they cannot write), else null. .NET's file-system messages name the path.</summary>
    internal static string? UserMessage(Exception e) => e switch
    {
        UserInputException or LlamaFormatException => e.Message,
        FileNotFoundException { FileName: { } file } => $"{file}: file not found",
        UnauthorizedAccessException => $"{e.Message} (permission denied or read-only)",
        IOException => e.Message,   // DirectoryNotFoundException, PathTooLongException, disk full, read-only file system
        _ => null,
    };

    /// <summary>Messages are one line: a record or tensor name with a line break in it must not split the error.</summary>
    internal static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
