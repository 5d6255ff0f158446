using System.Text.Json;
using LoRAM.Tensors;

namespace LoRAM.Llama.Safetensors;

/// <summary>
/// The weights of a model folder: <c>model.safetensors</c>, or the shards listed by
/// <c>model.safetensors.index.json</c> (<c>weight_map</c>: tensor name → shard file). All files are mapped on open.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    private readonly Dictionary<string, SafetensorsFile> _byName = new(StringComparer.Ordinal);
    private readonly List<SafetensorsFile> _files;

    private SafetensorsCheckpoint(List<SafetensorsFile> files, IEnumerable<(string, SafetensorsFile)> map)
    {
        _files = files;
        foreach (var (n, f) in map) _byName[n] = f;
    }

    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>Tensor names, in file order.</summary>
    public IEnumerable<string> Names =>
        _files.SelectMany(f => f.Entries.Where(e => _byName.TryGetValue(e.Name, out var owner) && owner == f)).Select(e => e.Name);

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The file holding <paramref name="name"/>.</summary>
    public SafetensorsFile FileOf(string name) =>
        _byName.TryGetValue(name, out var f) ? f : throw new LlamaFormatException($"no tensor named '{name}' in {string.Join(", ", _files.Select(x => x.Path))}");

    public SafetensorsEntry this[string name] => FileOf(name)[name];

    /// <summary>See <see cref="SafetensorsFile.Load"/>.</summary>
    public Tensor Load(Backend backend, string name, DType? dtype = null) => FileOf(name).Load(backend, name, dtype);

    /// <summary>True when <paramref name="folder"/> holds <c>{baseName}.safetensors</c> or its index.</summary>
    public static bool Exists(string folder, string baseName = "model") =>
        File.Exists(Path.Combine(folder, baseName + ".safetensors.index.json")) || File.Exists(Path.Combine(folder, baseName + ".safetensors"));

    /// <summary>Opens the checkpoint of <paramref name="folder"/>; the index wins over a single file when both exist.</summary>
    public static SafetensorsCheckpoint Open(string folder, string baseName = "model")
    {
        if (!Directory.Exists(folder))
            throw new LlamaFormatException(File.Exists(folder) ? $"{folder}: is a file, expected a model folder" : $"{folder}: folder not found");
        var indexPath = Path.Combine(folder, baseName + ".safetensors.index.json");
        var single = Path.Combine(folder, baseName + ".safetensors");
        if (File.Exists(indexPath)) return OpenIndex(folder, indexPath);
        if (!File.Exists(single))
            throw new LlamaFormatException($"{folder}: no {baseName}.safetensors or {baseName}.safetensors.index.json");
        var file = SafetensorsFile.Open(single);
        return new SafetensorsCheckpoint([file], file.Entries.Select(e => (e.Name, file)));
    }

    private static SafetensorsCheckpoint OpenIndex(string folder, string indexPath)
    {
        Dictionary<string, string> weightMap;
        try
        {
            var bytes = File.ReadAllBytes(indexPath);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw LlamaFormatException.In(indexPath, "not valid UTF-8 text");
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowDuplicateProperties = false });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw LlamaFormatException.In(indexPath, $"expected a JSON object, found {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
            if (JsonText.FindInvalidString(doc.RootElement) is { } bad) throw LlamaFormatException.In(indexPath, JsonText.Describe(bad));
            if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw LlamaFormatException.In(indexPath, "missing object field 'weight_map'");
            weightMap = new(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
                weightMap[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw LlamaFormatException.In(indexPath, $"weight_map['{p.Name}'] is not a file name");
        }
        catch (JsonException e) { throw LlamaFormatException.In(indexPath, $"not valid JSON ({e.Message})", e); }
        catch (InvalidOperationException e) { throw LlamaFormatException.In(indexPath, JsonText.Describe(JsonText.InvalidPropertyName), e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw LlamaFormatException.In(indexPath, $"cannot read ({e.Message})", e); }
        if (weightMap.Count == 0) throw LlamaFormatException.In(indexPath, "weight_map is empty");

        var files = new List<SafetensorsFile>();
        var opened = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var map = new List<(string, SafetensorsFile)>();
        try
        {
            foreach (var (name, fileName) in weightMap)
            {
                if (fileName.Contains('/') || fileName.Contains('\\') || fileName.Contains(".."))
                    throw LlamaFormatException.In(indexPath, $"weight_map['{name}'] = '{fileName}' is not a file name in the folder");
                if (!opened.TryGetValue(fileName, out var f))
                {
                    var path = Path.Combine(folder, fileName);
                    if (!File.Exists(path)) throw LlamaFormatException.In(indexPath, $"shard '{fileName}' (holding '{name}') is missing");
                    opened[fileName] = f = SafetensorsFile.Open(path);
                    files.Add(f);
                }
                if (!f.Contains(name)) throw LlamaFormatException.In(indexPath, $"weight_map says '{name}' is in '{fileName}', but that shard has no such tensor");
                map.Add((name, f));
            }
            return new SafetensorsCheckpoint(files, map);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
