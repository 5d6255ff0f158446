using System.Text;
using System.Text.Json;

namespace LoRAM.Data;

/// <summary>ShareGPT / OpenHermes JSONL: {"conversations": [{"from": "system"|"human"|"gpt", "value": string}, ...]}
/// per line ("user" and "assistant" are read as "human" and "gpt"). Each "gpt" turn becomes one
/// <see cref="InstructionRecord"/>: the instruction is the human turn just before it, the input is the earlier
/// conversation (system prompt and previous turns as "System: ...", "Human: ...", "Assistant: ..." lines, empty
/// for a single-turn conversation), the output is the gpt turn. So multi-turn data goes through the same Alpaca
/// template as everything else.</summary>
public static class ShareGptFile
{
    public static List<InstructionRecord> Load(string path)
    {
        var records = new List<InstructionRecord>();
        foreach (var (line, obj) in Jsonl.Read(path))
        {
            if (!obj.TryGetProperty("conversations", out var turns))
                throw new UserInputException($"{path}:{line}: missing field \"conversations\"");
            if (turns.ValueKind != JsonValueKind.Array)
                throw new UserInputException($"{path}:{line}: field \"conversations\" must be an array, found {Jsonl.Describe(turns.ValueKind)}");
            var history = new StringBuilder();
            string? pendingHuman = null;
            int produced = 0, index = 0;
            foreach (var turn in turns.EnumerateArray())
            {
                if (turn.ValueKind != JsonValueKind.Object)
                    throw new UserInputException($"{path}:{line}: conversations[{index}] must be an object");
                string from = Jsonl.RequiredString(turn, "from", path, line), value = Jsonl.RequiredString(turn, "value", path, line);
                switch (from)
                {
                    case "system":
                        Append(history, "System", value);
                        break;
                    case "human" or "user":
                        if (pendingHuman is not null) Append(history, "Human", pendingHuman);
                        pendingHuman = value;
                        break;
                    case "gpt" or "assistant":
                        if (string.IsNullOrWhiteSpace(value))
                            throw new UserInputException($"{path}:{line}: conversations[{index}] is an empty \"gpt\" turn");
                        if (pendingHuman is null)
                            throw new UserInputException($"{path}:{line}: conversations[{index}] is a \"gpt\" turn with no \"human\" turn before it");
                        records.Add(new InstructionRecord(pendingHuman, history.ToString().TrimEnd('\n'), value));
                        Append(history, "Human", pendingHuman);
                        Append(history, "Assistant", value);
                        pendingHuman = null;
                        produced++;
                        break;
                    default:
                        throw new UserInputException($"{path}:{line}: conversations[{index}] has unknown \"from\": \"{from}\" (expected human, gpt or system)");
                }
                index++;
            }
            if (produced == 0) throw new UserInputException($"{path}:{line}: conversation has no \"gpt\" turn");
        }
        if (records.Count == 0) throw new UserInputException($"{path}: no records");
        return records;
    }

    private static void Append(StringBuilder history, string who, string value) => history.Append(who).Append(": ").Append(value).Append('\n');
}
