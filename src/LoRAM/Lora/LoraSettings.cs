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
    /// <summary>PEFT's <c>rank_pattern</c>: module-name pattern → rank, overriding <see cref="Rank"/> where it matches.</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();
    /// <summary>PEFT's <c>alpha_pattern</c>: module-name pattern → alpha, overriding <see cref="Alpha"/> where it matches.</summary>
    public IReadOnlyDictionary<string, float> AlphaPattern { get; init; } = new Dictionary<string, float>();
    /// <summary>PEFT's <c>layers_to_transform</c>: only these decoder layers get adapters (null: all; the LM head never, as in PEFT).</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    public float Scaling => ScalingOf(Rank, Alpha);

    /// <summary>The rank of the module at <paramref name="modulePath"/> (e.g. model.layers.0.self_attn.q_proj).</summary>
    public int RankFor(string modulePath) => PatternKey(RankPattern.Keys, modulePath) is { } k ? RankPattern[k] : Rank;

    public float AlphaFor(string modulePath) => PatternKey(AlphaPattern.Keys, modulePath) is { } k ? AlphaPattern[k] : Alpha;

    /// <summary>s = alpha/r (or alpha/√r with rsLoRA) with the module's own rank and alpha, as PEFT's LoraLayer.update_layer.</summary>
    public float ScalingFor(string modulePath) => ScalingOf(RankFor(modulePath), AlphaFor(modulePath));

    private float ScalingOf(int rank, float alpha) => UseRsLora ? alpha / MathF.Sqrt(rank) : alpha / rank;

    /// <summary>Whether <paramref name="modulePath"/> gets an adapter: its module name is targeted and, with
    /// <see cref="LayersToTransform"/>, it sits in one of those layers (PEFT: a module without a layer index does not).</summary>
    public bool Targets(string modulePath)
    {
        if (!TargetModules.Contains(modulePath[(modulePath.LastIndexOf('.') + 1)..])) return false;
        if (LayersToTransform is null) return true;
        var m = System.Text.RegularExpressions.Regex.Match(modulePath, @"^model\.layers\.(\d+)\.");
        return m.Success && LayersToTransform.Contains(int.Parse(m.Groups[1].Value));
    }

    /// <summary>PEFT's <c>get_pattern_key</c>: the first pattern p for which the module name matches the regex
    /// <c>(.*\.)?(p)$</c> — a full name, a dotted suffix ("q_proj", "layers.0.self_attn.q_proj") or a regex.</summary>
    private static string? PatternKey(IEnumerable<string> patterns, string modulePath) =>
        patterns.FirstOrDefault(p => System.Text.RegularExpressions.Regex.IsMatch(modulePath, $"^(.*\\.)?({p})$"));

    public void Validate()
    {
        if (Rank < 1) throw new ArgumentException($"LoRA rank must be 1 or more, got {Rank}");
        if (!(Alpha > 0) || !float.IsFinite(Alpha)) throw new ArgumentException($"LoRA alpha must be positive, got {Alpha}");
        if (Dropout is < 0f or >= 1f) throw new ArgumentException($"LoRA dropout must be in [0, 1), got {Dropout}");
        if (TargetModules.Count == 0) throw new ArgumentException("LoRA needs at least one target module");
        foreach (var m in TargetModules)
            if (m != "lm_head" && !AllProjections.Contains(m))
                throw new ArgumentException($"unknown LoRA target module '{m}' (expected {string.Join(", ", AllProjections)} or lm_head)");
        foreach (var (p, r) in RankPattern)
            if (r < 1) throw new ArgumentException($"rank_pattern['{p}'] must be 1 or more, got {r}");
        foreach (var (p, a) in AlphaPattern)
            if (!(a > 0) || !float.IsFinite(a)) throw new ArgumentException($"alpha_pattern['{p}'] must be positive, got {a}");
    }
}
