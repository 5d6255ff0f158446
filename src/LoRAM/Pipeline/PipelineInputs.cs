using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

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
        if (HasRows(o.Out))
            throw new UserInputException(
                $"{o.Out}: holds results computed from other models or settings ({(recorded is null ? "no " + FileName : FileName + " differs")}); choose another --out or delete the folder");
        Directory.CreateDirectory(o.Out);
        Llama.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { fingerprint, base_model = Path.GetFullPath(baseModel), sibling_model = Path.GetFullPath(siblingModel) }));
        // New settings may mean new data (seed, sizes): any data already there is regenerated, as nothing records it now.
    }

    /// <summary>SHA-256 over the row-relevant settings and the models' files. Left out: which rows are run and where, and
    /// what a row's folder path already says — the sweep's ratios (sweep/sweep-stru-RATIO), a fine-tuned row's learning rate
    /// and seed (lr-LR/seed-K), hence how many seeds and which rates are asked for: more seeds, or another rate, reuse the
    /// folders already there.</summary>
    public static string Fingerprint(PipelineOptions o, string baseModel, string siblingModel)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var settings = o with
        {
            Out = "", Models = "", Variants = [], Sweep = false, SweepRatios = [], AlignStepsSweep = [],
            Seeds = 1, LearningRate = 0, SweepLr = [], RowLearningRates = new Dictionary<string, double>(), RowLearningRatesSource = "",
        };
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

    /// <summary>The recorded fingerprint; a damaged inputs.json (truncated, not an object, no string 'fingerprint') is
    /// bad input naming the file and field, never trusted.</summary>
    private static string ReadFingerprint(string path)
    {
        var root = ReadObject(path);
        return root["fingerprint"] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
            : throw new UserInputException($"{path}: field 'fingerprint' is missing or not a string; delete the file to start the folder afresh");
    }

    private static JsonObject ReadObject(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new UserInputException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message.Split('.')[0]}); delete the file to start the folder afresh", e); }
    }

    /// <summary>Whether the folder holds rows (finished or begun).</summary>
    public static bool HasRows(string outDir) =>
        new[] { "variants", "sweep", "align-sweep" }.Any(rows => Directory.Exists(Path.Combine(outDir, rows)));

    /// <summary>Records the SHA-256 of every generated data file in inputs.json (field 'data').</summary>
    public static void RecordData(string outDir, string dataDir)
    {
        string path = Path.Combine(outDir, FileName);
        var root = ReadObject(path);
        var data = new JsonObject();
        foreach (var name in Data.DataGeneration.FileNames) data[name] = ContentHash.OfFile(Path.Combine(dataDir, name));
        root["data"] = data;
        Llama.AtomicFile.WriteAllText(path, root.ToJsonString());
    }

    /// <summary>Null when every generated data file is present with the bytes recorded in inputs.json; else what differs,
    /// naming the file (or that nothing was recorded).</summary>
    public static string? DataMismatch(string outDir, string dataDir)
    {
        var root = ReadObject(Path.Combine(outDir, FileName));
        if (root["data"] is not JsonObject recorded) return $"{dataDir}: no fingerprint of the generated data in {Path.Combine(outDir, FileName)}";
        foreach (var name in Data.DataGeneration.FileNames)
        {
            string file = Path.Combine(dataDir, name);
            if (!File.Exists(file)) return $"{file}: missing";
            if (recorded[name] is not JsonValue v || v.GetValueKind() != JsonValueKind.String || v.GetValue<string>() != ContentHash.OfFile(file))
                return $"{file}: changed since it was generated (SHA-256 differs from {FileName})";
        }
        return null;
    }
}
