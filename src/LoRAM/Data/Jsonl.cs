using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoRAM.Llama;

namespace LoRAM.Data;

/// <summary>JSON Lines: one JSON object per line, blank lines ignored. Reading reports every problem as
/// "file:line: what is wrong" through <see cref="UserInputException"/>: invalid UTF-8, invalid JSON, a string holding
/// an unpaired surrogate escape (<c>"\ud800"</c>, valid JSON syntax but not text), and a line longer than
/// <see cref="MaxLineBytes"/>.</summary>
internal static class Jsonl
{
    /// <summary>
    /// Longest line any line reader here accepts (JSONL records, plain-text corpus lines, token-id lines): 64 MiB.
    /// A record is one example — the longest real instruction-tuning records are well under 1 MiB — and the cap is
    /// found while reading, so a file that is one enormous line (a >2 GB line used to take 42 s and 8.4 GB before
    /// failing with an internal error) costs at most 64 MiB and a fraction of a second before it is refused.
    /// </summary>
    public const int MaxLineBytes = 64 << 20;

    /// <summary>A key given twice in one record is an error: which value was meant cannot be told.</summary>
    private static readonly JsonDocumentOptions Options = new() { AllowDuplicateProperties = false };

    /// <summary>Each non-blank line parsed as a JSON object, with its 1-based line number.</summary>
    public static IEnumerable<(int Line, JsonElement Obj)> Read(string path)
    {
        foreach (var (lineNo, text) in Lines(path))
        {
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonElement obj;
            try
            {
                using var doc = JsonDocument.Parse(text, Options);
                obj = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new UserInputException($"{path}:{lineNo}: not valid JSON ({FirstSentence(e.Message)})", e);
            }
            catch (InvalidOperationException e)
            {
                throw new UserInputException($"{path}:{lineNo}: {JsonText.Describe(JsonText.InvalidPropertyName)}", e);
            }
            if (obj.ValueKind != JsonValueKind.Object)
                throw new UserInputException($"{path}:{lineNo}: expected a JSON object, found {Describe(obj.ValueKind)}");
            if (JsonText.FindInvalidString(obj) is { } bad)
                throw new UserInputException($"{path}:{lineNo}: {JsonText.Describe(bad)}");
            yield return (lineNo, obj);
        }
    }

    /// <summary>The file's lines ("\n" or "\r\n" endings, a leading UTF-8 byte-order mark skipped), each decoded as
    /// strict UTF-8 on its own so a mis-encoded line is named by its number, not garbled. A line past
    /// <see cref="MaxLineBytes"/> is refused as soon as its byte MaxLineBytes + 1 is read.</summary>
    public static IEnumerable<(int Line, string Text)> Lines(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: file not found");
        var utf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);
        Stream file;
        try { file = File.OpenRead(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UserInputException($"{path}: cannot read ({e.Message})", e); }
        using var stream = new BufferedStream(file, 1 << 16);
        var bytes = new List<byte>(256);
        int lineNo = 0;
        for (int b = stream.ReadByte(); ; b = stream.ReadByte())
        {
            if (b >= 0 && b != '\n')
            {
                if (bytes.Count == MaxLineBytes)
                    throw new UserInputException($"{path}:{lineNo + 1}: line longer than {MaxLineBytes >> 20} MiB, the most one record or line may hold (is this a JSONL or text file with line breaks?)");
                bytes.Add((byte)b);
                continue;
            }
            if (b < 0 && bytes.Count == 0) yield break;
            lineNo++;
            int start = lineNo == 1 && bytes.Count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
            int end = bytes.Count > start && bytes[^1] == '\r' ? bytes.Count - 1 : bytes.Count;
            string text;
            try { text = utf8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)[start..end]); }
            catch (DecoderFallbackException e) { throw new UserInputException($"{path}:{lineNo}: not valid UTF-8 text", e); }
            bytes.Clear();
            yield return (lineNo, text);
            if (b < 0) yield break;
        }
    }

    public static string RequiredString(JsonElement obj, string key, string path, int line)
    {
        if (!obj.TryGetProperty(key, out var v)) throw new UserInputException($"{path}:{line}: missing field \"{key}\"");
        if (v.ValueKind != JsonValueKind.String) throw new UserInputException($"{path}:{line}: field \"{key}\" must be a string, found {Describe(v.ValueKind)}");
        return v.GetString()!;
    }

    /// <summary>A string field that must hold more than white space (a prompt or the response to learn).</summary>
    public static string NonEmptyString(JsonElement obj, string key, string path, int line)
    {
        string value = RequiredString(obj, key, path, line);
        if (string.IsNullOrWhiteSpace(value)) throw new UserInputException($"{path}:{line}: field \"{key}\" is empty");
        return value;
    }

    public static string OptionalString(JsonElement obj, string key, string path, int line)
    {
        if (!obj.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return "";
        if (v.ValueKind != JsonValueKind.String) throw new UserInputException($"{path}:{line}: field \"{key}\" must be a string, found {Describe(v.ValueKind)}");
        return v.GetString()!;
    }

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object", JsonValueKind.Array => "an array", JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number", JsonValueKind.True or JsonValueKind.False => "a boolean", _ => "null",
    };

    /// <summary>Writes one object per line, atomically; readable escaping (apostrophes stay apostrophes).</summary>
    public static void Write<T>(string path, IEnumerable<T> items, Action<Utf8JsonWriter, T> writeFields)
    {
        AtomicFile.Write(path, stream =>
        {
            var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            foreach (var item in items)
            {
                using (var writer = new Utf8JsonWriter(stream, options))
                {
                    writer.WriteStartObject();
                    writeFields(writer, item);
                    writer.WriteEndObject();
                }
                stream.WriteByte((byte)'\n');
            }
        });
    }

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(". ", StringComparison.Ordinal);
        return (cut < 0 ? message : message[..cut]).TrimEnd('.');
    }
}
