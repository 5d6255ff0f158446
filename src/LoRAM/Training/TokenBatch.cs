using System.Text.Json.Nodes;
using LoRAM.Autograd;

namespace LoRAM.Training;

/// <summary>
/// One micro-batch on the host: input ids and next-token targets, both [Sequences, Length] row-major. A target of
/// <see cref="Ops.IgnoreIndex"/> is not trained on (padding; prompt tokens in SFT).
/// </summary>
public sealed record TokenBatch(int[] Inputs, int[] Targets, int Sequences, int Length)
{
    /// <summary>Targets that count in the loss (not <see cref="Ops.IgnoreIndex"/>).</summary>
    public int TrainedTokens => Targets.Count(t => t != Ops.IgnoreIndex);
}

/// <summary>
/// Where the trainer's batches come from. The order must be a pure function of the source's seed and its
/// <see cref="SaveState"/>, so a checkpoint restores the exact data position (exact resume).
/// Pre-training packs a corpus (<see cref="PackedCorpus"/>); SFT can supply padded instruction sequences with
/// response-only targets through the same interface.
/// </summary>
public interface IBatchSource
{
    /// <summary>Tokens per sequence.</summary>
    int SequenceLength { get; }

    /// <summary>The next <paramref name="sequences"/> training sequences, advancing the position.</summary>
    TokenBatch Next(int sequences);

    /// <summary>The position (and anything else that decides the next batches), for a checkpoint.</summary>
    JsonObject SaveState();

    /// <summary>Restores a position saved by <see cref="SaveState"/>; throws <see cref="ArgumentException"/> if it
    /// belongs to different data.</summary>
    void LoadState(JsonObject state);
}
