namespace LoRAM.Llama;

/// <summary>The <c>rope_scaling</c> block of a config.json, for the three types Hugging Face's LlamaRotaryEmbedding
/// implements for LLaMA and that are read here (see <see cref="RopeTables"/> for the formulas):
/// <c>"llama3"</c> (LLaMA-3.1+: <see cref="Factor"/>, <see cref="LowFreqFactor"/>, <see cref="HighFreqFactor"/>,
/// <see cref="OriginalMaxPositionEmbeddings"/>), <c>"linear"</c> (position interpolation: every frequency divided by
/// <see cref="Factor"/>) and <c>"dynamic"</c> (dynamic NTK: the base θ grows with the sequence length once it exceeds
/// max_position_embeddings). Other types are rejected when the config is read.</summary>
public sealed record RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings)
{
    public const string Llama3 = "llama3";
    public const string LinearType = "linear";
    public const string DynamicType = "dynamic";

    /// <summary>The <c>rope_type</c>: <see cref="Llama3"/>, <see cref="LinearType"/> or <see cref="DynamicType"/>.</summary>
    public string Type { get; init; } = Llama3;

    public static RopeScaling Linear(double factor) => new(factor, 0, 0, 0) { Type = LinearType };
    public static RopeScaling Dynamic(double factor) => new(factor, 0, 0, 0) { Type = DynamicType };
}
