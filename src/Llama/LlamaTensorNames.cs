namespace LoRAM.Llama;

/// <summary>Hugging Face's tensor names for a LLaMA checkpoint, and the shape each must have for a config.
/// Linear weights are [out, in], as <c>torch.nn.Linear</c> stores them.</summary>
public static class LlamaTensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string Q(int layer) => Projection.Q.WeightName(layer);
    public static string K(int layer) => Projection.K.WeightName(layer);
    public static string V(int layer) => Projection.V.WeightName(layer);
    public static string O(int layer) => Projection.O.WeightName(layer);
    public static string Gate(int layer) => Projection.Gate.WeightName(layer);
    public static string Up(int layer) => Projection.Up.WeightName(layer);
    public static string Down(int layer) => Projection.Down.WeightName(layer);
    public static string InputNorm(int layer) => $"model.layers.{layer}.input_layernorm.weight";
    public static string PostAttentionNorm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";

    /// <summary>Every tensor the config implies, with its shape, in checkpoint order; <c>lm_head.weight</c> only when untied.</summary>
    public static IEnumerable<(string Name, int[] Shape)> Expected(LlamaConfig c)
    {
        int h = c.HiddenSize;
        yield return (Embedding, [c.VocabSize, h]);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            yield return (InputNorm(l), [h]);
            foreach (var p in Projection.All)
            {
                if (p == Projection.Gate) yield return (PostAttentionNorm(l), [h]);
                var (outF, inF) = p.Shape(c, l);
                yield return (p.WeightName(l), [outF, inF]);
            }
        }
        yield return (FinalNorm, [h]);
        if (!c.TieWordEmbeddings) yield return (LmHead, [c.VocabSize, h]);
    }
}
