using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoRAM.Training;

/// <summary>
/// Typed, range-checked reads of a checkpoint's JSON (trainer_state.json and the data position inside it): a missing,
/// null, mistyped or out-of-range field is an <see cref="ArgumentException"/> naming the field, which the jobs report
/// as bad input naming the file — never a null dereference or a parse error surfacing as an internal error.
/// </summary>
internal static class CheckpointFields
{
    /// <summary>The JSON object in <paramref name="path"/>; invalid JSON or another kind of value names the file.</summary>
    public static JsonObject ReadObject(string path)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ArgumentException($"{path}: not valid JSON ({e.Message})", e); }
        return node as JsonObject ?? throw new ArgumentException($"{path}: not a JSON object");
    }

    public static JsonObject Object(JsonObject o, string field, string? parent = null) =>
        Node(o, field, parent) as JsonObject ?? throw Bad(field, parent, "is not an object");

    public static string String(JsonObject o, string field, string? parent = null)
    {
        var node = Node(o, field, parent);
        return node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : throw Bad(field, parent, $"is {node.ToJsonString()}, not a string");
    }

    public static long Long(JsonObject o, string field, long min, long max, string? parent = null)
    {
        var node = Node(o, field, parent);
        // By the number's text, which is the same for a parsed file and an in-memory state of any numeric type.
        string text = node.ToJsonString();
        if (node.GetValueKind() != JsonValueKind.Number || !long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long value))
            throw Bad(field, parent, $"is {text}, not a whole number");
        if (value < min || value > max) throw Bad(field, parent, $"is {value}, outside [{min}, {max}]");
        return value;
    }

    public static int Int(JsonObject o, string field, int min = 0, int max = int.MaxValue, string? parent = null) => (int)Long(o, field, min, max, parent);

    public static double Double(JsonObject o, string field, double min, double max, string? parent = null)
    {
        var node = Node(o, field, parent);
        string text = node.ToJsonString();
        if (node.GetValueKind() != JsonValueKind.Number || !double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
            throw Bad(field, parent, $"is {text}, not a finite number");
        if (value < min || value > max) throw Bad(field, parent, $"is {value}, outside [{min}, {max}]");
        return value;
    }

    private static JsonNode Node(JsonObject o, string field, string? parent) =>
        o[field] ?? throw Bad(field, parent, o.ContainsKey(field) ? "is null" : "is missing");

    private static ArgumentException Bad(string field, string? parent, string what) =>
        new($"field '{(parent is null ? field : parent + "." + field)}' {what}");
}
