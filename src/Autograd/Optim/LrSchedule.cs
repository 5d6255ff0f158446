namespace LoRAM.Autograd.Optim;

/// <summary>
/// Learning rate as a function of the optimizer step (0-based, the step about to be taken), with Hugging Face's
/// conventions (transformers.get_*_schedule_with_warmup) so runs are comparable with PEFT recipes:
/// warm-up lr = peak·step/warmup (step 0 therefore has lr 0 when there is a warm-up), then a decay from peak to
/// <see cref="Floor"/> over the remaining steps.
/// </summary>
public abstract class LrSchedule
{
    protected LrSchedule(double peak, int warmupSteps, int totalSteps, double floor)
    {
        if (warmupSteps < 0 || totalSteps < 0 || floor < 0 || floor > peak) throw new ArgumentException("invalid schedule parameters");
        Peak = peak; WarmupSteps = warmupSteps; TotalSteps = totalSteps; Floor = floor;
    }

    public double Peak { get; }
    public int WarmupSteps { get; }
    public int TotalSteps { get; }
    public double Floor { get; }

    public float Rate(long step)
    {
        if (step < WarmupSteps) return (float)(Peak * step / WarmupSteps);
        double progress = TotalSteps <= WarmupSteps ? 1 : Math.Clamp((double)(step - WarmupSteps) / (TotalSteps - WarmupSteps), 0, 1);
        return (float)(Floor + (Peak - Floor) * Decay(progress));
    }

    /// <summary>The decay factor from 1 at progress 0 to 0 at progress 1.</summary>
    protected abstract double Decay(double progress);

    public static LrSchedule Constant(double lr, int warmupSteps = 0) => new ConstantSchedule(lr, warmupSteps);

    /// <summary>Linear warm-up, then cosine decay: factor ½(1 + cos(π·progress)).</summary>
    public static LrSchedule Cosine(double peak, int warmupSteps, int totalSteps, double floor = 0) => new CosineSchedule(peak, warmupSteps, totalSteps, floor);

    /// <summary>Linear warm-up, then linear decay: factor 1 − progress.</summary>
    public static LrSchedule Linear(double peak, int warmupSteps, int totalSteps, double floor = 0) => new LinearSchedule(peak, warmupSteps, totalSteps, floor);

    private sealed class ConstantSchedule(double lr, int warmup) : LrSchedule(lr, warmup, warmup, lr)
    {
        protected override double Decay(double progress) => 1;
    }

    private sealed class CosineSchedule(double peak, int warmup, int total, double floor) : LrSchedule(peak, warmup, total, floor)
    {
        protected override double Decay(double progress) => 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    private sealed class LinearSchedule(double peak, int warmup, int total, double floor) : LrSchedule(peak, warmup, total, floor)
    {
        protected override double Decay(double progress) => 1 - progress;
    }
}
