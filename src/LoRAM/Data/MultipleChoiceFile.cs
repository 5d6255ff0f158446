using System.Text.Json;

namespace LoRAM.Data;

/// <summary>Multiple-choice JSONL: {"question": string, "choices": [at least 2 strings], "label": 0-based index of
/// the right choice} per line — the format of mc.jsonl.</summary>
public static class MultipleChoiceFile
{
    public static List<MultipleChoiceItem> Load(string path)
    {
        var items = Jsonl.Read(path).Select(x => Parse(x.Obj, path, x.Line)).ToList();
        if (items.Count == 0) throw new UserInputException($"{path}: no records");
        return items;
    }

    /// <summary>One record's question, choices and label, every problem named as "file:line: …".</summary>
    internal static MultipleChoiceItem Parse(JsonElement obj, string path, int line)
    {
        string question = Jsonl.NonEmptyString(obj, "question", path, line);
        if (!obj.TryGetProperty("choices", out var arr) || arr.ValueKind != JsonValueKind.Array)
            throw new UserInputException($"{path}:{line}: missing array field \"choices\"");
        var choices = new List<string>();
        foreach (var c in arr.EnumerateArray())
        {
            if (c.ValueKind != JsonValueKind.String)
                throw new UserInputException($"{path}:{line}: \"choices\" must hold strings, found {Jsonl.Describe(c.ValueKind)}");
            choices.Add(c.GetString()!);
        }
        if (choices.Count < 2) throw new UserInputException($"{path}:{line}: \"choices\" needs at least 2 entries, has {choices.Count}");
        if (!obj.TryGetProperty("label", out var lab) || lab.ValueKind != JsonValueKind.Number || !lab.TryGetInt32(out int label))
            throw new UserInputException($"{path}:{line}: missing integer field \"label\"");
        if (label < 0 || label >= choices.Count)
            throw new UserInputException($"{path}:{line}: \"label\" {label} is outside 0..{choices.Count - 1}");
        return new MultipleChoiceItem(question, choices, label);
    }

    public static void Write(string path, IEnumerable<MultipleChoiceItem> items) =>
        Jsonl.Write(path, items, (w, x) => WriteFields(w, x.Question, x.Choices, x.Label));

    /// <summary>The three fields every multiple-choice layout shares (knowledge.jsonl adds its own after them).</summary>
    internal static void WriteFields(Utf8JsonWriter w, string question, IReadOnlyList<string> choices, int label)
    {
        w.WriteString("question", question);
        w.WriteStartArray("choices");
        foreach (var c in choices) w.WriteStringValue(c);
        w.WriteEndArray();
        w.WriteNumber("label", label);
    }
}
