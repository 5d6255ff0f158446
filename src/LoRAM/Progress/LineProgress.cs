namespace LoRAM.Progress;

/// <summary>
/// Progress as plain log lines: exactly the lines the commands printed before
/// there were bars, so logs, CI and anything that greps them see no change. Counted tasks print only their due lines.
/// </summary>
public sealed class LineProgress(TextWriter writer) : IProgressReporter
{
    /// <summary>Prints nothing.</summary>
    public static IProgressReporter None { get; } = new LineProgress(TextWriter.Null);

    public void Line(string text) => writer.WriteLine(text);

    public IProgressTask Start(string description, int total) => new LineTask(this);

    private sealed class LineTask(LineProgress owner) : IProgressTask
    {
        public void Update(int done, string? figures = null, string? line = null)
        {
            if (line is not null) owner.Line(line);
        }

        public void Dispose() { }
    }
}
