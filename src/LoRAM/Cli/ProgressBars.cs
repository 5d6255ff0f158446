using LoRAM.Progress;
using Spectre.Console;

namespace LoRAM.Cli;

/// <summary>
/// Progress as Spectre.Console bars: one per running task — its description with the latest figures, the bar, the
/// percentage, elapsed and remaining time. Plain lines (headers, stages, results) print above the bars.
/// </summary>
internal sealed class ProgressBars : IProgressReporter
{
    private readonly IAnsiConsole _console;
    private readonly ProgressContext _context;

    private ProgressBars(IAnsiConsole console, ProgressContext context) => (_console, _context) = (console, context);

    /// <summary>Runs <paramref name="body"/> under a live progress display on <paramref name="console"/>. A job of many
    /// stages (the pipeline) passes <paramref name="hideCompleted"/> so finished bars give way to the next ones.</summary>
    public static T Run<T>(IAnsiConsole console, Func<IProgressReporter, T> body, bool hideCompleted = false) =>
        console.Progress()
            .AutoClear(false)
            .HideCompleted(hideCompleted)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context => body(new ProgressBars(console, context)));

    // Text, not markup: a path or a record name may hold '[' and must print as it is.
    public void Line(string text) => _console.WriteLine(text);

    public IProgressTask Start(string description, int total) =>
        new Bar(_context.AddTask(Markup.Escape(description), maxValue: Math.Max(total, 1)), description);

    private sealed class Bar(ProgressTask task, string description) : IProgressTask
    {
        public void Update(int done, string? figures = null, string? line = null)
        {
            task.Value = done;
            if (figures is not null) task.Description = Markup.Escape($"{description}  {figures}");
        }

        public void Dispose() => task.StopTask();
    }
}
