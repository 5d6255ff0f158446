namespace LoRAM.Training;

/// <summary>
/// Everything that decides a training run. A resumed run must use the same values for the fields that shape the
/// result (steps, batch, schedule, optimizer, seed); the checkpoint records them and the trainer refuses a mismatch.
/// </summary>
public sealed record TrainerOptions
{
    /// <summary>Optimizer steps of the whole run (the schedule's length).</summary>
    public required int Steps { get; init; }
    /// <summary>Sequences per optimizer step (the effective batch).</summary>
    public required int BatchSequences { get; init; }
    /// <summary>Sequences per forward/backward pass; must divide <see cref="BatchSequences"/> (0: the whole batch).</summary>
    public int MicroBatchSequences { get; init; }

    /// <summary>Peak learning rate, reached after <see cref="WarmupSteps"/>.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Linear warm-up steps from 0 (HF convention: step 0 has lr 0 when warm-up &gt; 0).</summary>
    public int WarmupSteps { get; init; }
    /// <summary>The cosine decay ends at LearningRate × MinLrRatio (LLaMA's pre-training used 0.1).</summary>
    public double MinLrRatio { get; init; } = 0.1;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only (embeddings and projections), never to the
    /// RMSNorm gains (rank-1 parameters), as in LLaMA and nanoGPT.</summary>
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    /// <summary>LLaMA's pre-training β2 is 0.95; torch's default is 0.999.</summary>
    public double Beta2 { get; init; } = 0.95;
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Global gradient-norm clip (0: none; the norm is still measured and checked for NaN/∞).</summary>
    public double ClipNorm { get; init; } = 1.0;

    /// <summary>Seed of everything random the trainer itself draws (stochastic ops get per-step seeds from it).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Output folder: loss curve (<c>loss.csv</c>) and <c>checkpoints/</c>.</summary>
    public required string OutputFolder { get; init; }
    /// <summary>Write a checkpoint every this many steps (0: only at the end), and always after the last step.</summary>
    public int CheckpointEvery { get; init; }
    /// <summary>Complete checkpoints kept (older ones are deleted once a newer one is in place).</summary>
    public int KeepCheckpoints { get; init; } = 2;
    /// <summary>Run the evaluation hook every this many steps (0: never; it also runs after the last step when set).</summary>
    public int EvalEvery { get; init; }
    /// <summary>Print a progress line every this many steps (the first and last step always print).</summary>
    public int LogEvery { get; init; } = 10;

    /// <summary>Stop (as if killed) after this step, without the end-of-run checkpoint; for tests and time-boxed runs.</summary>
    public int? StopAfterStep { get; init; }

    /// <summary>Wall-time budget of this process's run: after the step that exceeds it, write a checkpoint and stop
    /// (a time-boxed session then continues with resume). Null: no limit.</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>The job's settings that decide the result besides the loop's own (model and data fingerprints, LoRA
    /// settings, …), recorded in every checkpoint and compared, first, when a run resumes.</summary>
    public IReadOnlyList<RunSetting> JobSettings { get; init; } = [];

    public int MicroBatch => MicroBatchSequences == 0 ? BatchSequences : MicroBatchSequences;
    public int MicroBatchesPerStep => BatchSequences / MicroBatch;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        if (Steps < 1) throw new ArgumentException($"steps must be at least 1, got {Steps}");
        if (BatchSequences < 1) throw new ArgumentException($"batch must be at least 1 sequence, got {BatchSequences}");
        if (MicroBatch < 1 || BatchSequences % MicroBatch != 0)
            throw new ArgumentException($"micro-batch {MicroBatch} must divide the batch of {BatchSequences} sequences");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}");
        if (WarmupSteps < 0) throw new ArgumentException($"warm-up must be 0 or more steps, got {WarmupSteps}");
        if (!(MinLrRatio >= 0 && MinLrRatio <= 1)) throw new ArgumentException($"min-lr ratio must be in [0, 1], got {MinLrRatio}");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw new ArgumentException($"weight decay must be 0 or more, got {WeightDecay}");
        if (!(ClipNorm >= 0) || !double.IsFinite(ClipNorm)) throw new ArgumentException($"clip norm must be 0 or more, got {ClipNorm}");
        if (CheckpointEvery < 0 || EvalEvery < 0 || LogEvery < 0) throw new ArgumentException("checkpoint, eval and log intervals must be 0 or more");
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1) || !(Epsilon > 0) || !double.IsFinite(Epsilon))
            throw new ArgumentException($"AdamW needs betas in [0, 1) and a positive epsilon, got {Beta1}, {Beta2}, {Epsilon}");
        if (TimeLimit is { } t && !(t > TimeSpan.Zero)) throw new ArgumentException($"time limit must be positive, got {t}");
        if (KeepCheckpoints < 1) throw new ArgumentException($"keep at least 1 checkpoint, got {KeepCheckpoints}");
    }
}
