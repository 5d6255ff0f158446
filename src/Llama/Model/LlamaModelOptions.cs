using LoRAM.Autograd;
using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;

namespace LoRAM.Llama.Model;

/// <summary>How a model is built from its weights.</summary>
public sealed record LlamaModelOptions
{
    /// <summary>
    /// Full-parameter training (pre-training, alignment): every weight becomes an F32 parameter with a gradient.
    /// Otherwise every weight is frozen in its stored dtype (or <see cref="FrozenDType"/>) and carries no gradient,
    /// which is the LoRA setting.
    /// </summary>
    public bool Trainable { get; init; }

    /// <summary>
    /// With <see cref="Trainable"/>: which weights train, by Hugging Face name (null: all). The others are frozen as in
    /// the LoRA setting — stored dtype, memory-mapped, no gradient — so e.g. alignment without lm_head neither holds an
    /// F32 copy of the head nor computes its gradient. A tied head trains exactly when the embedding does.
    /// </summary>
    public Func<string, bool>? TrainedWeights { get; init; }

    /// <summary>Storage dtype of frozen projection and embedding weights (null: as stored). Norm weights are always F32.</summary>
    public DType? FrozenDType { get; init; }

    /// <summary>Recompute each decoder layer in the backward pass instead of keeping its activations.</summary>
    public bool CheckpointLayers { get; init; }

    /// <summary>
    /// Loads a projection stored in another format (e.g. NF4) from the checkpoint: called with the weight's name,
    /// returns null for a plain dense weight. Used by the quantization layer, which the model does not know.
    /// </summary>
    public Func<SafetensorsCheckpoint, string, Backend, FrozenWeight?>? LinearLoader { get; init; }
}
