using LoRAM.Llama;

namespace LoRAM.Planning;

/// <summary>
/// What LoRA training on the (pruned) model holds in memory besides activations — the paper's memory table:
/// the frozen base in BF16 (2 bytes a parameter) or, for QLoRAM, in 4 bits counted as the paper does (a
/// quarter of a 16-bit parameter, 0.5 bytes, quantization constants not counted); the LoRA matrices
/// A [r, in] and B [out, r] on the seven projections of every layer (+ the LM head when asked) kept in F32,
/// their F32 gradients, and AdamW's two F32 moments.
/// </summary>
public sealed record MemoryPlan
{
    public const double GiB = 1L << 30;

    public required int Rank { get; init; }
    public required bool LmHead { get; init; }
    public required long BaseParameters { get; init; }
    /// <summary>Frozen base at 16 bits.</summary>
    public long BaseBytesBf16 => BaseParameters * 2;
    /// <summary>Frozen base at 4 bits, the paper's QLoRAM accounting (quarter of BF16).</summary>
    public long BaseBytesNf4 => BaseParameters / 2;
    public required long LoraParameters { get; init; }
    public long LoraBytes => LoraParameters * 4;
    public long GradientBytes => LoraParameters * 4;
    /// <summary>AdamW's first and second moments.</summary>
    public long OptimizerBytes => LoraParameters * 8;
    public long TrainableStateBytes => LoraBytes + GradientBytes + OptimizerBytes;

    /// <summary>The memory plan of LoRA rank <paramref name="rank"/> on a model of <paramref name="config"/> holding
    /// <paramref name="baseParameters"/> frozen parameters (the config's own count unless given).</summary>
    public static MemoryPlan For(LlamaConfig config, int rank, bool lmHead = false, long? baseParameters = null)
    {
        if (rank <= 0) throw new ArgumentException($"LoRA rank must be positive, got {rank}");
        long lora = 0;
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var (rows, cols) in ParameterPlan.ProjectionShapes(config, l))
                if (rows > 0 && cols > 0) lora += (long)rank * (rows + cols);   // A [r, in] + B [out, r]
        if (lmHead) lora += (long)rank * (config.VocabSize + config.HiddenSize);
        return new MemoryPlan { Rank = rank, LmHead = lmHead, BaseParameters = baseParameters ?? config.ParameterCount(), LoraParameters = lora };
    }
}
