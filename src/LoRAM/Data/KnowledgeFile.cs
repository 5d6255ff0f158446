using System.Text.Json;

namespace LoRAM.Data;

/// <summary>knowledge.jsonl: the multiple-choice layout of <see cref="MultipleChoiceFile"/> whose choices are whole
/// answer sentences, plus the optional "rank" (popularity of the notable asked about, 1 = most written about) and
/// "attribute" that let a report break accuracy down by popularity. A user's own file needs only the first three.</summary>
public static class KnowledgeFile
{
    public static List<KnowledgeItem> Load(string path)
    {
        var items = new List<KnowledgeItem>();
        foreach (var (line, obj) in Jsonl.Read(path))
        {
            var mc = MultipleChoiceFile.Parse(obj, path, line);
            int rank = 0;
            if (obj.TryGetProperty("rank", out var r) && (r.ValueKind != JsonValueKind.Number || !r.TryGetInt32(out rank) || rank < 1))
                throw new UserInputException($"{path}:{line}: \"rank\" must be a positive integer");
            string attribute = Jsonl.OptionalString(obj, "attribute", path, line);
            items.Add(new KnowledgeItem(mc.Question, mc.Choices, mc.Label, rank, attribute));
        }
        if (items.Count == 0) throw new UserInputException($"{path}: no records");
        return items;
    }

    public static void Write(string path, IEnumerable<KnowledgeItem> items) =>
        Jsonl.Write(path, items, (w, x) =>
        {
            MultipleChoiceFile.WriteFields(w, x.Question, x.Choices, x.Label);
            w.WriteNumber("rank", x.Rank);
            w.WriteString("attribute", x.Attribute);
        });
}
