namespace LoRAM.Data;

/// <summary>A multiple-choice question in the lm-evaluation-harness style (the commonsense analog): the model
/// scores each choice as a continuation of "Question: {question}\nAnswer:" and is right when the most likely
/// choice is <see cref="Label"/> (0-based). mc.jsonl: {"question", "choices": [4 strings], "label"}.</summary>
public sealed record MultipleChoiceItem(string Question, IReadOnlyList<string> Choices, int Label);

/// <summary>A math question with its reference answer in GSM8K's layout (rationale, then "#### n"); scored by
/// strict match of the generated "#### n" (see <see cref="Gsm8kAnswer"/>). math.jsonl: {"question", "answer"}.</summary>
public sealed record Gsm8kItem(string Question, string Answer)
{
    /// <summary>The number after "####" in the reference answer.</summary>
    public decimal FinalAnswer => Gsm8kAnswer.Extract(Answer)
        ?? throw new InvalidOperationException($"reference answer without \"#### n\": {Question}");
}
