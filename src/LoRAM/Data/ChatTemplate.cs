namespace LoRAM.Data;

/// <summary>The Alpaca prompt layout (Taori et al., 2023), the one template used by training and by evaluation
/// alike, so a model is scored on exactly the text it was tuned on. The prompt always ends with
/// "### Response:\n"; the response follows it directly.</summary>
public static class ChatTemplate
{
    public const string HeaderWithInput =
        "Below is an instruction that describes a task, paired with an input that provides further context. " +
        "Write a response that appropriately completes the request.";

    public const string HeaderNoInput =
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.";

    public const string ResponseMarker = "### Response:\n";

    /// <summary>The prompt for an instruction and an input; an empty or white-space input leaves out the
    /// "### Input:" section, as Alpaca does.</summary>
    public static string Prompt(string instruction, string input = "") =>
        string.IsNullOrWhiteSpace(input)
            ? $"{HeaderNoInput}\n\n### Instruction:\n{instruction}\n\n{ResponseMarker}"
            : $"{HeaderWithInput}\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n{ResponseMarker}";

    /// <summary>A prompt with its response.</summary>
    public static InstructionExample Example(string instruction, string input, string output) =>
        new(Prompt(instruction, input), output);
}
