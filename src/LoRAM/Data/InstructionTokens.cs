using LoRAM.Llama.Tokenization;

namespace LoRAM.Data;

/// <summary>An instruction example as token ids: [BOS] prompt response [EOS], and where the response starts —
/// the first position whose token is trained on (SFT) or scored (response-only perplexity). A multi-turn conversation
/// has several responses: then <see cref="Trained"/> marks each trained position and <see cref="ResponseStart"/> is the first.</summary>
public readonly record struct TokenizedExample(int[] Ids, int ResponseStart, bool[]? Trained = null)
{
    public bool IsTrained(int position) => Trained?[position] ?? position >= ResponseStart;
    public int TrainedTokens => Trained?.Count(t => t) ?? Ids.Length - ResponseStart;
}

/// <summary>
/// The one way an instruction example becomes tokens, shared by the SFT trainer and evaluation so a model is
/// scored on exactly what it was tuned on. Prompt and response are encoded separately (a BPE merge never spans
/// the boundary, so the response tokens are the same whatever the prompt), the response ends with EOS so the
/// model learns to stop, and an over-long example keeps its whole response by cutting the prompt from the left.
/// </summary>
public static class InstructionTokens
{
    public static TokenizedExample Encode(ITokenizer tokenizer, InstructionExample example, int maxLength)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), "an example needs at least 2 tokens");
        var prompt = tokenizer.Encode(example.Prompt, addBos: true);
        var response = tokenizer.Encode(example.Response, addBos: false).Append(tokenizer.EosId).ToArray();
        if (response.Length >= maxLength) response = response[..(maxLength - 1)];          // keep at least one prompt token
        int keepPrompt = Math.Min(prompt.Length, maxLength - response.Length);
        var promptPart = prompt.Length == keepPrompt ? prompt : [prompt[0], .. prompt[(prompt.Length - keepPrompt + 1)..]];   // keep BOS
        return new TokenizedExample([.. promptPart, .. response], promptPart.Length);
    }

    /// <summary>A conversation rendered by a chat template, tokenized as one text with no special tokens added (the
    /// template wrote them), as HF's apply_chat_template(tokenize=True) does; cut to <paramref name="maxLength"/> tokens.
    /// A token is trained when it starts inside a trained segment. Segments are not encoded on their own, which would
    /// change the ids (SentencePiece's "▁" prefix, a space merged into the next word): the whole text is encoded once,
    /// and each segment boundary is found as the common prefix of the ids of the text up to it with the whole's ids.</summary>
    public static TokenizedExample Encode(ITokenizer tokenizer, IReadOnlyList<TemplateSegment> segments, int maxLength)
    {
        var text = ChatTemplates.Text(segments);
        var ids = tokenizer.Encode(text, addBos: false);
        var trained = new bool[ids.Length];
        int chars = 0, from = 0;
        for (int k = 0; k < segments.Count; k++)
        {
            chars += segments[k].Text.Length;
            int to = k == segments.Count - 1 ? ids.Length : Math.Max(from, CommonPrefix(tokenizer.Encode(text[..chars], addBos: false), ids));
            if (segments[k].Trained) Array.Fill(trained, true, from, to - from);
            from = to;
        }
        int n = Math.Min(ids.Length, maxLength);
        var mask = trained[..n];
        int first = Array.IndexOf(mask, true);
        return new TokenizedExample(ids[..n], first < 0 ? n : first, mask);
    }

    private static int CommonPrefix(int[] a, int[] b)
    {
        int i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i]) i++;
        return i;
    }
}
