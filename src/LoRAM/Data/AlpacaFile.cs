
namespace LoRAM.Data;

/// <summary>Alpaca JSONL: {"instruction": string, "input": string (optional), "output": string} per line.
/// The format of instructions.jsonl, ppl-in.jsonl and ppl-out.jsonl.</summary>
public static class AlpacaFile
{
    public static List<InstructionRecord> Load(string path)
    {
        var records = new List<InstructionRecord>();
        foreach (var (line, obj) in Jsonl.Read(path))
        {
            string instruction = Jsonl.NonEmptyString(obj, "instruction", path, line);
            records.Add(new InstructionRecord(instruction, Jsonl.OptionalString(obj, "input", path, line),
                Jsonl.NonEmptyString(obj, "output", path, line)));   // an empty response teaches nothing but to stop
        }
        if (records.Count == 0) throw new UserInputException($"{path}: no records");
        return records;
    }

    public static void Write(string path, IEnumerable<InstructionRecord> records) =>
        Jsonl.Write(path, records, (w, r) =>
        {
            w.WriteString("instruction", r.Instruction);
            w.WriteString("input", r.Input);
            w.WriteString("output", r.Output);
        });
}
