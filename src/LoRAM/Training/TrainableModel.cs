using LoRAM.Autograd;
using LoRAM.Tensors;

namespace LoRAM.Training;

/// <summary>
/// What the trainer needs from a model: the parameters to train (full-parameter training: every weight; LoRA: the
/// adapter matrices only) and the forward pass. The trainer saves exactly these parameters, by name, in its
/// checkpoints; <see cref="WriteFolderFiles"/> adds whatever makes the checkpoint folder usable on its own
/// (config.json and tokenizer for a full model, adapter_config.json for an adapter).
/// </summary>
public sealed record TrainableModel
{
    /// <summary>Uniquely named F32 parameters.</summary>
    public required IReadOnlyList<Var> Parameters { get; init; }
    /// <summary>Logits [B, T, V] for token ids I32 [B, T].</summary>
    public required Func<Tape, Tensor, Var> Forward { get; init; }
    /// <summary>File name of the parameters inside a checkpoint (model.safetensors makes a full checkpoint an HF folder).</summary>
    public string WeightsFile { get; init; } = "model.safetensors";
    /// <summary>Called before each micro-batch's forward pass with a seed that is a pure function of (run seed, step,
    /// micro-batch), for stochastic layers (LoRA dropout): a resumed run draws the same masks as an uninterrupted one.</summary>
    public Action<ulong>? SetStepSeed { get; init; }
    /// <summary>Writes the non-weight files of a self-contained model folder into a checkpoint folder.</summary>
    public Action<string>? WriteFolderFiles { get; init; }
}
