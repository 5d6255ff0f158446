using System.CommandLine;

namespace LoRAM.Cli;

/// <summary>Runs the command line and turns failures into one-line messages with the project's exit codes:
/// 0 success, 2 bad input (<see cref="UserInputException"/>, unreadable files), 1 internal error.</summary>
internal static class CliRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        try
        {
            // Our handler, not System.CommandLine's: its default one would print a stack trace and return 1 for bad input.
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UserInputException e)
        {
            Console.Error.WriteLine($"loram: error: {e.Message}");
            return 2;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"loram: internal error: {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("LORAM_DEBUG") == "1") Console.Error.WriteLine(e);
            return 1;
        }
    }
}

/// <summary>Bad input from the user (a file, a flag, a record): reported in one line, exit code 2.</summary>
public class UserInputException(string message, Exception? inner = null) : Exception(message, inner);
