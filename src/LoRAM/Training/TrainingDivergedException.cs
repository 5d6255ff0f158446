namespace LoRAM.Training;

/// <summary>Training stopped because the loss or the gradient stopped being finite. Nothing was written for the
/// failed step: the parameters were not updated. The checkpoint of the step before (whose weights gave the non-finite
/// value) is moved aside, so the last checkpoint named (if any) is the last good state.</summary>
public sealed class TrainingDivergedException(int step, string what, string? lastCheckpoint)
    : Exception($"{what} at step {step}; stopped before updating the weights. " +
                (lastCheckpoint is null ? "No checkpoint was written yet." : $"Last good checkpoint: {lastCheckpoint} (resume with a lower learning rate or more warm-up).") )
{
    /// <summary>The 1-based step that failed.</summary>
    public int Step { get; } = step;
    /// <summary>What stopped being finite ("the loss is NaN …").</summary>
    public string What { get; } = what;
    public string? LastCheckpoint { get; } = lastCheckpoint;
}
