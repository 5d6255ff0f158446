using LoRAM.Progress;
using Spectre.Console;

namespace LoRAM.Cli;

/// <summary>
/// Picks how a command shows progress on stderr. A terminal gets bars; redirected stderr (CI, logs, <c>2&gt; file</c>),
/// a command run with another error writer (tests) or <c>LORAM_PROGRESS=lines</c> gets the plain log lines of
/// <see cref="LineProgress"/>, unchanged. Stdout is never touched: it stays clean for <c>--json</c>.
/// </summary>
internal static class ConsoleProgress
{
    public const string Variable = "LORAM_PROGRESS";

    /// <summary>Bars only on an interactive stderr, and only when <see cref="Variable"/> does not ask for lines.</summary>
    internal static bool UseBars(bool errorRedirected, string? variable) =>
        !errorRedirected && !string.Equals(variable?.Trim(), "lines", StringComparison.OrdinalIgnoreCase);

    /// <inheritdoc cref="Run{T}"/>
    public static void Run(TextWriter error, Action<IProgressReporter> body, string prefix = "", bool hideCompleted = false) =>
        Run(error, progress => { body(progress); return true; }, prefix, hideCompleted);

    /// <summary>Runs <paramref name="body"/> with the reporter for <paramref name="error"/> (the command's stderr);
    /// lines get <paramref name="prefix"/> in front.</summary>
    public static T Run<T>(TextWriter error, Func<IProgressReporter, T> body, string prefix = "", bool hideCompleted = false)
    {
        IProgressReporter Prefixed(IProgressReporter r) => prefix.Length == 0 ? r : new NestedProgress(r, prefix);
        if (!ReferenceEquals(error, Console.Error) || !UseBars(Console.IsErrorRedirected, Environment.GetEnvironmentVariable(Variable)))
            return body(Prefixed(new LineProgress(error)));
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Error), Interactive = InteractionSupport.Yes, Ansi = AnsiSupport.Detect,
        });
        return ProgressBars.Run(console, bars => body(Prefixed(bars)), hideCompleted);
    }
}
