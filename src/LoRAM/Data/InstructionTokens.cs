using LoRAM.Llama.Tokenization;

namespace LoRAM.Data;

/// <summary>An instruction example as token ids: [BOS] prompt response [EOS], and where the response starts —
/// the first position whose token is trained on (SFT) or scored (response-only perplexity).</summary>
public readonly record struct TokenizedExample(int[] Ids, int ResponseStart);

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
}
