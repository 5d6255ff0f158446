using System.Text;
using LoRAM.Llama;

namespace LoRAM.Data;

/// <summary>How a plain-text file is split into documents.</summary>
public enum PlainTextLayout
{
    /// <summary>Paragraphs if the file has any blank line, else one document per line.</summary>
    Auto,
    /// <summary>Documents separated by one or more blank lines (lines of white space only); a document may span lines.</summary>
    Paragraphs,
    /// <summary>Each non-blank line is a document.</summary>
    Lines,
}

/// <summary>Plain-text corpora, the format of corpus.txt: UTF-8 text, documents separated by blank lines (or, in a
/// file with no blank line at all, one document per line). Line breaks inside a document are kept; leading and
/// trailing white space of each document is trimmed.</summary>
public static class PlainTextCorpus
{
    public static List<string> Load(string path, PlainTextLayout layout = PlainTextLayout.Auto)
    {
        var lines = Jsonl.Lines(path).Select(l => l.Text).ToList();
        if (layout == PlainTextLayout.Auto)
            layout = lines.Any(string.IsNullOrWhiteSpace) && lines.Any(l => !string.IsNullOrWhiteSpace(l)) ? PlainTextLayout.Paragraphs : PlainTextLayout.Lines;
        var docs = new List<string>();
        if (layout == PlainTextLayout.Lines)
            docs.AddRange(lines.Where(l => !string.IsNullOrWhiteSpace(l)).Select(l => l.Trim()));
        else
        {
            var current = new StringBuilder();
            foreach (var line in lines.Append(""))
            {
                if (!string.IsNullOrWhiteSpace(line)) { current.Append(line).Append('\n'); continue; }
                if (current.Length > 0) docs.Add(current.ToString().Trim());
                current.Clear();
            }
        }
        if (docs.Count == 0) throw new UserInputException($"{path}: no documents (the file is empty or blank)");
        return docs;
    }

    /// <summary>Writes documents separated by one blank line, atomically; returns the number of characters written.
    /// A document must not contain a blank line itself, or it would read back as two.</summary>
    public static long Write(string path, IEnumerable<string> documents)
    {
        long chars = 0;
        AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true);
            bool first = true;
            foreach (var doc in documents)
            {
                if (doc.Contains("\n\n")) throw new ArgumentException("a document contains a blank line", nameof(documents));
                if (!first) { writer.Write("\n\n"); chars += 2; }
                writer.Write(doc);
                chars += doc.Length;
                first = false;
            }
            writer.Write('\n');
            chars++;
        });
        return chars;
    }
}
