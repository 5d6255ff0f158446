namespace LoRAM.Data;

/// <summary>Instruction data in any format the tool reads, told apart by the first record's keys: ShareGPT
/// ({conversations}) or Alpaca ({instruction, input, output}).</summary>
public static class InstructionFiles
{
    public static List<InstructionRecord> Load(string path)
    {
        string? first = File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => !string.IsNullOrWhiteSpace(l)) : null;
        return first is not null && first.Contains("\"conversations\"") ? ShareGptFile.Load(path) : AlpacaFile.Load(path);
    }
}
