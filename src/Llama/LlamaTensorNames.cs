namespace LoRAM.Llama;

/// <summary>Hugging Face's tensor names for a LLaMA checkpoint, and the shape each must have for a config.
/// Linear weights are [out, in], as <c>torch.nn.Linear</c> stores them.</summary>
public static class LlamaTensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string Q(int layer) => $"model.layers.{layer}.self_attn.q_proj.weight";
    public static string K(int layer) => $"model.layers.{layer}.self_attn.k_proj.weight";
    public static string V(int layer) => $"model.layers.{layer}.self_attn.v_proj.weight";
    public static string O(int layer) => $"model.layers.{layer}.self_attn.o_proj.weight";
    public static string Gate(int layer) => $"model.layers.{layer}.mlp.gate_proj.weight";
    public static string Up(int layer) => $"model.layers.{layer}.mlp.up_proj.weight";
    public static string Down(int layer) => $"model.layers.{layer}.mlp.down_proj.weight";
    public static string InputNorm(int layer) => $"model.layers.{layer}.input_layernorm.weight";
    public static string PostAttentionNorm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";

    /// <summary>Every tensor the config implies, with its shape, in checkpoint order; <c>lm_head.weight</c> only when untied.</summary>
    public static IEnumerable<(string Name, int[] Shape)> Expected(LlamaConfig c)
    {
        int h = c.HiddenSize;
        yield return (Embedding, [c.VocabSize, h]);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            int q = c.HeadsAt(l) * c.HeadDim, kv = c.KvHeadsAt(l) * c.HeadDim, ff = c.IntermediateAt(l);
            yield return (InputNorm(l), [h]);
            yield return (Q(l), [q, h]);
            yield return (K(l), [kv, h]);
            yield return (V(l), [kv, h]);
            yield return (O(l), [h, q]);
            yield return (PostAttentionNorm(l), [h]);
            yield return (Gate(l), [ff, h]);
            yield return (Up(l), [ff, h]);
            yield return (Down(l), [h, ff]);
        }
        yield return (FinalNorm, [h]);
        if (!c.TieWordEmbeddings) yield return (LmHead, [c.VocabSize, h]);
    }
}
