namespace LoRAM.Data;

/// <summary>One instruction in the Alpaca layout: an instruction, an optional input (empty when none), and the
/// desired output. This is what instructions.jsonl, ppl-in.jsonl and ppl-out.jsonl hold, one JSON object a line
/// with the keys "instruction", "input", "output".</summary>
public sealed record InstructionRecord(string Instruction, string Input, string Output)
{
    /// <summary>The key the held-out split hashes (see <see cref="HeldOut"/>).</summary>
    public bool IsHeldOut => HeldOut.IsHeldOut(Instruction, Input);

    /// <summary>The (prompt, response) pair a model trains or is evaluated on, through the one chat template.</summary>
    public InstructionExample ToExample() => new(ChatTemplate.Prompt(Instruction, Input), Output);
}

/// <summary>A prompt and the response that should follow it. Training computes the loss on the response tokens
/// only; evaluation scores the response given the prompt. Both build the prompt with <see cref="ChatTemplate"/>.</summary>
public sealed record InstructionExample(string Prompt, string Response)
{
    /// <summary>Prompt and response as one text, the way a model sees it during training.</summary>
    public string Text => Prompt + Response;
}
