namespace LoRAM.Llama.Tokenization;

/// <summary>A tokenizer.json <c>post_processor</c> for a single sequence: the special tokens around the text's ids that
/// <c>add_special_tokens=True</c> (transformers' default) asks for. Without special tokens the ids pass unchanged.</summary>
internal interface IPostProcessor
{
    List<int> AddSpecialTokens(List<int> ids);
}

/// <summary>TemplateProcessing's <c>single</c> template: a list of special-token pieces and the sequence "A"
/// (LLaMA-2: <c>&lt;s&gt; $A</c>, LLaMA-3: <c>&lt;|begin_of_text|&gt; $A</c>).</summary>
internal sealed class TemplatePostProcessor(IReadOnlyList<int[]?> pieces) : IPostProcessor
{
    /// <param name="pieces">The special ids of each piece, or null for the sequence.</param>
    public List<int> AddSpecialTokens(List<int> ids)
    {
        var o = new List<int>(ids.Count + pieces.Count);
        foreach (var p in pieces)
            if (p is null) o.AddRange(ids);
            else o.AddRange(p);
        return o;
    }
}

/// <summary>BertProcessing / RobertaProcessing for one sequence: <c>cls $A sep</c>.</summary>
internal sealed class ClsSepPostProcessor(int cls, int sep) : IPostProcessor
{
    public List<int> AddSpecialTokens(List<int> ids) => [cls, .. ids, sep];
}

/// <summary>ByteLevel's post-processor only trims offsets; ids are unchanged.</summary>
internal sealed class IdentityPostProcessor : IPostProcessor
{
    public List<int> AddSpecialTokens(List<int> ids) => ids;
}

internal sealed class SequencePostProcessor(IPostProcessor[] steps) : IPostProcessor
{
    public List<int> AddSpecialTokens(List<int> ids)
    {
        foreach (var s in steps) ids = s.AddSpecialTokens(ids);
        return ids;
    }
}
