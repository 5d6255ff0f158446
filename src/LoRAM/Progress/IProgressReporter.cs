namespace LoRAM.Progress;

/// <summary>
/// Where a long step — training steps, pruned layers, evaluated items, pipeline rows — says how far it is. The
/// library writes only to this; the command line picks how it shows: <see cref="LineProgress"/> prints the log lines
/// every command has always printed (redirected stderr, CI, tests), a terminal gets Spectre.Console bars instead.
/// </summary>
public interface IProgressReporter
{
    /// <summary>A line of the log (a header, a stage, a result): printed as is in every mode.</summary>
    void Line(string text);

    /// <summary>Begins a counted task of <paramref name="total"/> units (steps, layers, items). Dispose it when the task ends.</summary>
    IProgressTask Start(string description, int total);
}

/// <summary>One counted task of an <see cref="IProgressReporter"/>.</summary>
public interface IProgressTask : IDisposable
{
    /// <summary>
    /// <paramref name="done"/> units of the total are finished. <paramref name="figures"/> are the latest measurements
    /// (a bar shows them beside its description); <paramref name="line"/> is the log line due at this point, if any
    /// (printed by <see cref="LineProgress"/>, left out under a bar, which shows the same figures).
    /// </summary>
    void Update(int done, string? figures = null, string? line = null);
}
