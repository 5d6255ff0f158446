using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoRAM;

/// <summary>How every job's typed report becomes JSON (report.json files and <c>--json</c>): snake_case keys in
/// declaration order, NaN and ∞ as named literals rather than an exception.</summary>
public static class ReportJson
{
    public static JsonSerializerOptions Indented { get; } = Create(indented: true);
    public static JsonSerializerOptions Compact { get; } = Create(indented: false);

    private static JsonSerializerOptions Create(bool indented) => new()
    {
        WriteIndented = indented,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Serialize<T>(T report, bool indented = true) => JsonSerializer.Serialize(report, indented ? Indented : Compact);
}
