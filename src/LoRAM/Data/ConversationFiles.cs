using System.Text.Json;

namespace LoRAM.Data;

/// <summary>
/// Training data as conversations, in the formats people have: Alpaca ({instruction, input, output}) as JSONL or as one
/// JSON array (Alpaca's own alpaca_data.json), ShareGPT ({conversations: [{from, value}]}) and Hugging Face's
/// ({messages: [{role, content}]}), JSONL or array. Each record is read by its own keys. A rejected record is named by
/// file, line (JSONL) or item (array), and field.
/// </summary>
public static class ConversationFiles
{
    public static List<Conversation> Load(string path)
    {
        var result = new List<Conversation>();
        foreach (var (where, obj) in Records(path)) result.Add(Read(obj, where));
        if (result.Count == 0) throw new UserInputException($"{path}: no records");
        return result;
    }

    /// <summary>The records with where each is: "file:line" for JSONL, "file: item n" for a JSON array.</summary>
    private static IEnumerable<(string Where, JsonElement Obj)> Records(string path)
    {
        if (IsJsonArray(path))
        {
            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowDuplicateProperties = false });
                root = doc.RootElement.Clone();
            }
            catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})", e); }
            int i = 0;
            foreach (var item in root.EnumerateArray())
            {
                i++;
                if (item.ValueKind != JsonValueKind.Object) throw new UserInputException($"{path}: item {i}: expected a JSON object, found {Jsonl.Describe(item.ValueKind)}");
                yield return ($"{path}: item {i}", item);
            }
            yield break;
        }
        foreach (var (line, obj) in Jsonl.Read(path)) yield return ($"{path}:{line}", obj);
    }

    /// <summary>Alpaca's alpaca_data.json is one JSON array; everything else here is JSON Lines.</summary>
    public static bool IsJsonArray(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: file not found");
        using var stream = File.OpenRead(path);
        for (int b = stream.ReadByte(); b >= 0; b = stream.ReadByte())
            if (b == '[') return true;
            else if (b is not (' ' or '\t' or '\r' or '\n' or 0xEF or 0xBB or 0xBF)) return false;
        return false;
    }

    private static Conversation Read(JsonElement obj, string where)
    {
        // Jsonl's helpers name "file:line"; here `where` already is that (or "file: item n"), so the line argument is dropped.
        string Str(JsonElement o, string key) => Strip(() => Jsonl.RequiredString(o, key, where, 0));
        if (obj.TryGetProperty("messages", out var messages)) return Turns(messages, "messages", "role", "content", where,
            role => role is "system" or "user" or "assistant" ? role : null);
        if (obj.TryGetProperty("conversations", out var conv)) return Turns(conv, "conversations", "from", "value", where,
            from => from switch { "system" => "system", "human" or "user" => "user", "gpt" or "assistant" => "assistant", _ => null });
        if (obj.TryGetProperty("instruction", out _))
        {
            string instruction = Str(obj, "instruction");
            string input = Strip(() => Jsonl.OptionalString(obj, "input", where, 0));
            string output = Str(obj, "output");
            if (string.IsNullOrWhiteSpace(instruction)) throw new UserInputException($"{where}: field \"instruction\" is empty");
            if (string.IsNullOrWhiteSpace(output)) throw new UserInputException($"{where}: field \"output\" is empty");
            return new Conversation([new("user", string.IsNullOrWhiteSpace(input) ? instruction : $"{instruction}\n\n{input}"), new("assistant", output)])
            {
                Alpaca = new InstructionRecord(instruction, input, output),
            };
        }
        throw new UserInputException($"{where}: no \"messages\", \"conversations\" or \"instruction\" field (expected HF messages, ShareGPT or Alpaca)");

        string Strip(Func<string> read)
        {
            try { return read(); }
            catch (UserInputException e) { throw new UserInputException(e.Message.Replace($"{where}:0:", $"{where}:"), e); }
        }
    }

    private static Conversation Turns(JsonElement array, string field, string roleKey, string textKey, string where, Func<string, string?> role)
    {
        if (array.ValueKind != JsonValueKind.Array)
            throw new UserInputException($"{where}: field \"{field}\" must be an array, found {Jsonl.Describe(array.ValueKind)}");
        var turns = new List<ChatTurn>();
        int i = 0;
        foreach (var t in array.EnumerateArray())
        {
            string at = $"{field}[{i}]";
            if (t.ValueKind != JsonValueKind.Object) throw new UserInputException($"{where}: {at} must be an object");
            if (!t.TryGetProperty(roleKey, out var r) || r.ValueKind != JsonValueKind.String) throw new UserInputException($"{where}: {at}.{roleKey} is missing or not a string");
            if (!t.TryGetProperty(textKey, out var v) || v.ValueKind != JsonValueKind.String) throw new UserInputException($"{where}: {at}.{textKey} is missing or not a string");
            string name = role(r.GetString()!) ?? throw new UserInputException($"{where}: {at}.{roleKey} is \"{r.GetString()}\" (expected system, user or assistant; ShareGPT: system, human or gpt)");
            if (name == "system" && i > 0) throw new UserInputException($"{where}: {at}.{roleKey}: a system turn must come first");
            if (name == "assistant" && string.IsNullOrWhiteSpace(v.GetString())) throw new UserInputException($"{where}: {at}.{textKey} is an empty assistant turn");
            turns.Add(new ChatTurn(name, v.GetString()!));
            i++;
        }
        if (!turns.Any(t => t.Role == "assistant")) throw new UserInputException($"{where}: field \"{field}\" has no assistant turn to train on");
        return new Conversation(turns);
    }

    /// <summary>The conversation as Alpaca records, the way <see cref="ShareGptFile"/> reads ShareGPT: one record per
    /// assistant turn, its instruction the user turn before it, its input the earlier conversation as
    /// "System: …", "Human: …", "Assistant: …" lines. An Alpaca record stays itself.</summary>
    public static IEnumerable<InstructionRecord> ToAlpacaRecords(Conversation c, string where = "conversation")
    {
        if (c.Alpaca is { } record) { yield return record; yield break; }
        var history = new System.Text.StringBuilder();
        string? pending = null;
        foreach (var t in c.Turns)
            switch (t.Role)
            {
                case "system": history.Append("System: ").Append(t.Content).Append('\n'); break;
                case "user":
                    if (pending is not null) history.Append("Human: ").Append(pending).Append('\n');
                    pending = t.Content;
                    break;
                default:
                    if (pending is null) throw new UserInputException($"{where}: an assistant turn with no user turn before it (the alpaca template needs one)");
                    yield return new InstructionRecord(pending, history.ToString().TrimEnd('\n'), t.Content);
                    history.Append("Human: ").Append(pending).Append('\n').Append("Assistant: ").Append(t.Content).Append('\n');
                    pending = null;
                    break;
            }
    }
}
