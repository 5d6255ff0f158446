using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoRAM.Llama;

namespace LoRAM.Data;

/// <summary>JSON Lines: one JSON object per line, blank lines ignored. Reading reports every problem as
/// "file:line: what is wrong" through <see cref="UserInputException"/>.</summary>
internal static class Jsonl
{
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
            if (obj.ValueKind != JsonValueKind.Object)
                throw new UserInputException($"{path}:{lineNo}: expected a JSON object, found {Describe(obj.ValueKind)}");
            yield return (lineNo, obj);
        }
    }

    /// <summary>The file's lines ("\n" or "\r\n" endings, a leading UTF-8 byte-order mark skipped), each decoded as
    /// strict UTF-8 on its own so a mis-encoded line is named by its number, not garbled.</summary>
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
            if (b >= 0 && b != '\n') { bytes.Add((byte)b); continue; }
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
