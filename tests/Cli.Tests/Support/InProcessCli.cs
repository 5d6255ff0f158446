using System.CommandLine;
using LoRAM.Cli;

namespace LoRAM.Tests.Support;

/// <summary>
/// Runs `loram` commands in-process with stdout and stderr captured. Bad input (<see cref="UserInputException"/>),
/// which <see cref="CliRunner"/> turns into one line on stderr and exit code 2, comes back the same way: code 2 with
/// the message as <see cref="Result.Error"/>.
/// </summary>
internal static class InProcessCli
{
    public readonly record struct Result(int Code, string Output, string Error);

    public static Result Run(Command command, params string[] args) => Run([command], args);

    public static Result Run(IReadOnlyList<Command> commands, params string[] args)
    {
        var root = new RootCommand();
        foreach (var command in commands) root.Add(command);
        var output = new StringWriter();
        var error = new StringWriter();
        try
        {
            int code = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
            return new(code, output.ToString(), error.ToString());
        }
        catch (UserInputException e)
        {
            return new(2, output.ToString(), e.Message);
        }
    }
}
