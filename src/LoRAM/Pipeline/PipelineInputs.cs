using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LoRAM.Pipeline;

/// <summary>
/// What a pipeline folder's cached rows were computed from: the settings that change a row's numbers and the bytes of
/// both models. A rerun reuses rows only when this fingerprint matches, so retrained models or changed flags can never
/// be reported with stale results.
/// </summary>
public static class PipelineInputs
{
    public const string FileName = "inputs.json";

    /// <summary>Refuses a folder whose rows came from other inputs; records the inputs of a folder that has none.</summary>
    public static void Check(PipelineOptions o, string baseModel, string siblingModel)
    {
        string fingerprint = Fingerprint(o, baseModel, siblingModel);
        string path = Path.Combine(o.Out, FileName);
        string? recorded = File.Exists(path) ? ReadFingerprint(path) : null;
        if (recorded == fingerprint) return;
        bool hasRows = Directory.Exists(Path.Combine(o.Out, "variants")) || Directory.Exists(Path.Combine(o.Out, "sweep"));
        if (hasRows)
            throw new UserInputException(
                $"{o.Out}: holds results computed from other models or settings ({(recorded is null ? "no " + FileName : FileName + " differs")}); choose another --out or delete the folder");
        Directory.CreateDirectory(o.Out);
        Llama.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { fingerprint, base_model = Path.GetFullPath(baseModel), sibling_model = Path.GetFullPath(siblingModel) }));
    }

    /// <summary>SHA-256 over the row-relevant settings (not which rows are run, nor where) and the models' files.</summary>
    public static string Fingerprint(PipelineOptions o, string baseModel, string siblingModel)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var settings = o with { Out = "", Models = "", Variants = [], Sweep = false, SweepRatios = [] };
        sha.AppendData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(settings)));
        foreach (var folder in new[] { baseModel, siblingModel })
            foreach (var file in Directory.EnumerateFiles(folder).Where(IsModelFile).OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal))
            {
                sha.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(file)));
                using var stream = File.OpenRead(file);
                var buffer = new byte[1 << 20];
                for (int n; (n = stream.Read(buffer)) > 0;) sha.AppendData(buffer, 0, n);
            }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static bool IsModelFile(string path)
    {
        string name = Path.GetFileName(path);
        return name == "config.json" || name.EndsWith(".safetensors", StringComparison.Ordinal)
            || name.StartsWith("tokenizer", StringComparison.Ordinal) || name == "loram_tokenizer.json";
    }

    private static string? ReadFingerprint(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.TryGetProperty("fingerprint", out var f) ? f.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
