
namespace LoRAM.Data;

/// <summary>GSM8K JSONL: {"question": string, "answer": string ending in "#### n"} per line — the format of
/// math.jsonl and of the original GSM8K files. An answer without a readable "#### n" is an error.</summary>
public static class Gsm8kFile
{
    public static List<Gsm8kItem> Load(string path)
    {
        var items = new List<Gsm8kItem>();
        foreach (var (line, obj) in Jsonl.Read(path))
        {
            string question = Jsonl.NonEmptyString(obj, "question", path, line);
            string answer = Jsonl.RequiredString(obj, "answer", path, line);
            if (Gsm8kAnswer.Extract(answer) is null)
                throw new UserInputException($"{path}:{line}: field \"answer\" has no final \"#### number\"");
            items.Add(new Gsm8kItem(question, answer));
        }
        if (items.Count == 0) throw new UserInputException($"{path}: no records");
        return items;
    }

    public static void Write(string path, IEnumerable<Gsm8kItem> items) =>
        Jsonl.Write(path, items, (w, x) =>
        {
            w.WriteString("question", x.Question);
            w.WriteString("answer", x.Answer);
        });
}
