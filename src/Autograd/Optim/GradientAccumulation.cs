namespace LoRAM.Autograd.Optim;

/// <summary>
/// Gradient accumulation over <see cref="MicroBatches"/> micro-batches: each micro-batch's loss is scaled by
/// 1/MicroBatches, so the summed gradient is the gradient of the mean loss over the effective batch, and the
/// optimizer steps once every MicroBatches backward passes.
/// </summary>
public sealed class GradientAccumulation(int microBatches)
{
    private int _seen;

    public int MicroBatches { get; } = microBatches > 0 ? microBatches : throw new ArgumentOutOfRangeException(nameof(microBatches));

    /// <summary>The factor to apply to each micro-batch's loss before its backward pass.</summary>
    public float LossScale => 1f / MicroBatches;

    /// <summary>Counts one finished micro-batch; true when the optimizer should step now (then the count restarts).</summary>
    public bool MicroBatchDone()
    {
        if (++_seen < MicroBatches) return false;
        _seen = 0;
        return true;
    }
}
