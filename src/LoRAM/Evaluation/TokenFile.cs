
namespace LoRAM.Evaluation;

/// <summary>
/// A file of token-id sequences for <c>loram eval --tokens</c>: one sequence per line, ids separated by
/// whitespace and/or commas; blank lines and lines starting with '#' are skipped.
/// </summary>
public static class TokenFile
{
    public static List<int[]> Read(string path, int vocabSize)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: no such file");
        var sequences = new List<int[]>();
        // Jsonl.Lines: strict UTF-8 per line and the line-length cap (File.ReadLines grows a line without bound).
        foreach (var (lineNumber, line) in Data.Jsonl.Lines(path))
        {
            var text = line.Trim();
            if (text.Length == 0 || text.StartsWith('#')) continue;
            var fields = text.Split([' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries);
            var ids = new int[fields.Length];
            for (int i = 0; i < fields.Length; i++)
            {
                if (!int.TryParse(fields[i], out ids[i]))
                    throw new UserInputException($"{path}:{lineNumber}: '{fields[i]}' is not a token id");
                if (ids[i] < 0 || ids[i] >= vocabSize)
                    throw new UserInputException($"{path}:{lineNumber}: token id {ids[i]} is outside the vocabulary [0, {vocabSize})");
            }
            if (ids.Length < 2) throw new UserInputException($"{path}:{lineNumber}: a sequence needs at least 2 tokens to score a next token");
            sequences.Add(ids);
        }
        if (sequences.Count == 0) throw new UserInputException($"{path}: no token sequences");
        return sequences;
    }
}
