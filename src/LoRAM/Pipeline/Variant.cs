using LoRAM.Pruning;

namespace LoRAM.Pipeline;

/// <summary>What a row of the paper's comparison trains (if anything) and what it is evaluated as.</summary>
public enum VariantKind
{
    /// <summary>The base model as shipped, no fine-tuning (the paper's "w/o FT").</summary>
    BaseNoFineTuning,
    /// <summary>The smaller sibling with LoRA (the paper's LLaMA-2-7B + LoRA).</summary>
    SiblingLora,
    /// <summary>The base with LoRA, trained on the full model: the memory-hungry upper reference.</summary>
    BaseLora,
    /// <summary>LoRAM: prune the base, (align), (NF4), train LoRA on the small model, recover, evaluate on the base.</summary>
    Loram,
}

/// <summary>One row of the comparison. For LoRAM rows: the pruning method and ratio, alignment, NF4, and (points of the
/// alignment-steps sweep) how many alignment steps; null: the pipeline's <see cref="PipelineOptions.AlignTokens"/>.</summary>
public sealed record Variant(string Name, VariantKind Kind, PruningMethod? Method = null, double Ratio = 0, bool Align = false, bool Nf4 = false, int? AlignSteps = null)
{
    public string Label => Kind switch
    {
        VariantKind.BaseNoFineTuning => "base w/o FT",
        VariantKind.SiblingLora => "sibling + LoRA",
        VariantKind.BaseLora => "base + LoRA",
        _ => $"{(Nf4 ? "QLoRAM" : "LoRAM")}-{Method!.Value}{(Align ? AlignSteps is int steps ? $" + align {steps} steps" : " + align" : "")}{(Ratio > 0 && Method is PruningMethod.Rand or PruningMethod.Stru ? $" ({Ratio:0.##})" : "")}",
    };

    /// <summary>Every variant <c>--variants</c> accepts, by name.</summary>
    public static IReadOnlyList<Variant> Catalogue(double ratio)
    {
        var list = new List<Variant>
        {
            new("base", VariantKind.BaseNoFineTuning),
            new("sibling-lora", VariantKind.SiblingLora),
            new("base-lora", VariantKind.BaseLora),
        };
        foreach (var (name, method) in new[] { ("rand", PruningMethod.Rand), ("stru", PruningMethod.Stru), ("semi", PruningMethod.Semi), ("unst", PruningMethod.Unst) })
        {
            list.Add(new($"loram-{name}", VariantKind.Loram, method, ratio));
            list.Add(new($"loram-{name}-aligned", VariantKind.Loram, method, ratio, Align: true));
        }
        list.Add(new("qloram-stru", VariantKind.Loram, PruningMethod.Stru, ratio, Nf4: true));
        list.Add(new("qloram-stru-aligned", VariantKind.Loram, PruningMethod.Stru, ratio, Align: true, Nf4: true));
        return list;
    }

    /// <summary>The default run: the baselines and one LoRAM variant.</summary>
    public static readonly string[] Defaults = ["base", "sibling-lora", "base-lora", "loram-stru"];
}
