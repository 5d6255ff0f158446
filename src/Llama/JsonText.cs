using System.Text.Json;

namespace LoRAM.Llama;

/// <summary>
/// JSON that is valid syntax but not valid text: an escape of half a UTF-16 surrogate pair (<c>"\ud800"</c> alone).
/// <see cref="JsonDocument"/> accepts it and throws <see cref="InvalidOperationException"/> only when that string or
/// property name is read — deep inside whichever reader touches it, as an internal error. Every reader of JSON files
/// checks the parsed document once with <see cref="FindInvalidString"/> and reports the place as a user error.
/// </summary>
public static class JsonText
{
    /// <summary>The JSON path (<c>$.conversations[1].value</c>) of the first string value or property name that does
    /// not decode to valid UTF-16, or null when every string does. Reads each string once.</summary>
    public static string? FindInvalidString(JsonElement element, string path = "$")
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                try { element.GetString(); return null; }
                catch (InvalidOperationException) { return path; }
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in element.EnumerateArray())
                    if (FindInvalidString(item, $"{path}[{i++}]") is { } bad) return bad;
                return null;
            case JsonValueKind.Object:
                foreach (var p in element.EnumerateObject())
                {
                    string name;
                    try { name = p.Name; }
                    catch (InvalidOperationException) { return $"{path} (a property name)"; }
                    if (FindInvalidString(p.Value, $"{path}.{Shorten(name)}") is { } bad) return bad;
                }
                return null;
            default:
                return null;
        }
    }

    /// <summary>What to say when <see cref="JsonDocument.Parse(string, JsonDocumentOptions)"/> itself throws
    /// <see cref="InvalidOperationException"/>: with duplicate keys disallowed it reads every property name while
    /// parsing, so a name holding half a surrogate pair fails there.</summary>
    public const string InvalidPropertyName = "a property name";

    /// <summary>What to say about <see cref="FindInvalidString"/>'s finding.</summary>
    public static string Describe(string where) =>
        $"{where} holds an unpaired surrogate escape (\\ud800–\\udfff without its other half): not valid Unicode text";

    private static string Shorten(string name) => (name.Length <= 40 ? name : name[..40] + "…").ReplaceLineEndings(" ");
}
