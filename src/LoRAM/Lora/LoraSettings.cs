using LoRAM.Llama;

namespace LoRAM.Lora;

/// <summary>
/// Hyper-parameters of a LoRA adapter (Hu et al. 2021; PEFT's LoraConfig). The update of a projection W0 [out, in]
/// is ΔW = s·B·A with A [r, in], B [out, r] and s = alpha/r, or alpha/√r with rsLoRA (Kalajdzievski 2023), whose
/// scaling keeps the update's magnitude independent of the rank.
/// Paper defaults (LoRAM §4): r = 8 on all seven projections; for LLaMA-2-style models also the LM head.
/// </summary>
public sealed record LoraSettings
{
    public static readonly IReadOnlyList<string> AllProjections = Projection.All.Select(p => p.Module).ToList();

    public int Rank { get; init; } = 8;
    public float Alpha { get; init; } = 16f;
    public float Dropout { get; init; } = 0.05f;
    /// <summary>PEFT module names that get an adapter: any of q_proj … down_proj and lm_head.</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = AllProjections;
    public bool UseRsLora { get; init; }

    public float Scaling => UseRsLora ? Alpha / MathF.Sqrt(Rank) : Alpha / Rank;

    public void Validate()
    {
        if (Rank < 1) throw new ArgumentException($"LoRA rank must be 1 or more, got {Rank}");
        if (!(Alpha > 0) || !float.IsFinite(Alpha)) throw new ArgumentException($"LoRA alpha must be positive, got {Alpha}");
        if (Dropout is < 0f or >= 1f) throw new ArgumentException($"LoRA dropout must be in [0, 1), got {Dropout}");
        if (TargetModules.Count == 0) throw new ArgumentException("LoRA needs at least one target module");
        foreach (var m in TargetModules)
            if (m != "lm_head" && !AllProjections.Contains(m))
                throw new ArgumentException($"unknown LoRA target module '{m}' (expected {string.Join(", ", AllProjections)} or lm_head)");
    }
}
