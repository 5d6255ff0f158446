namespace LoRAM.Progress;

/// <summary>
/// A step inside a larger job (a pipeline row's training, say): its lines are indented under the job's, and its
/// tasks are named after the part they belong to ("train" becomes "train base-lora").
/// </summary>
public sealed class NestedProgress(IProgressReporter outer, string indent, string? label = null) : IProgressReporter
{
    public void Line(string text) => outer.Line(indent + text);

    public IProgressTask Start(string description, int total) =>
        new NestedTask(outer.Start(label is null ? description : $"{description} {label}", total), indent);

    private sealed class NestedTask(IProgressTask outer, string indent) : IProgressTask
    {
        public void Update(int done, string? figures = null, string? line = null) =>
            outer.Update(done, figures, line is null ? null : indent + line);

        public void Dispose() => outer.Dispose();
    }
}
