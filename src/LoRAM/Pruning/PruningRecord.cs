using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Llama;

namespace LoRAM.Pruning;

/// <summary>
/// <c>loram_pruning.json</c>: what P(·) did to W0, complete enough to undo it. LoRA recovery R(·) (Eq. 5)
/// scatters the pruned adapters B^P, A^P back to the original shapes with <see cref="KeptRows"/> and
/// <see cref="KeptColumns"/>; non-structured methods name their masks in <c>masks.safetensors</c>.
/// <para>Layout (snake_case JSON, format <c>loram-pruning/1</c>): method, ratio, nm, keep_first, keep_last,
/// importance, seed, calibration {source, samples, seq_len}, original {hidden_size, num_hidden_layers,
/// head_dim, vocab_size, parameters}, pruned_parameters, and one entry per layer: original_heads,
/// original_kv_heads, original_intermediate, pruned, and for structured methods the kept indices into the
/// ORIGINAL layer, ascending — kept_kv_heads (key/value groups), kept_heads (query heads: group g keeps query
/// heads g·r … g·r + r − 1, r = heads / kv_heads) and kept_channels (MLP). Non-structured records add
/// masks_file and masked_tensors (weight names whose mask is in the file).</para>
/// </summary>
public sealed record PruningRecord
{
    public const string FileName = "loram_pruning.json";
    public const string Format = "loram-pruning/1";

    public required PruningMethod Method { get; init; }
    public required double Ratio { get; init; }
    /// <summary>"N:M" for semi-structured masks.</summary>
    public string? NM { get; init; }
    public required int KeepFirst { get; init; }
    public required int KeepLast { get; init; }
    /// <summary>Importance criterion (stru: taylor-element or taylor-vector; others: the method's own score).</summary>
    public string? Importance { get; init; }
    public int? Seed { get; init; }
    public CalibrationInfo? Calibration { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public required long OriginalParameters { get; init; }
    /// <summary>Structured: parameters of the smaller model. Non-structured: nonzero weights (theoretical count).</summary>
    public required long PrunedParameters { get; init; }
    public required IReadOnlyList<LayerRecord> Layers { get; init; }
    public string? MasksFile { get; init; }
    public IReadOnlyList<string>? MaskedTensors { get; init; }

    public bool IsStructured => Method.IsStructured();

    /// <summary>Calibration data behind the importance scores or Hessians.</summary>
    public sealed record CalibrationInfo(string Source, int Samples, int SeqLen);

    /// <summary>One decoder layer: its original sizes and, for structured methods, the kept indices.</summary>
    public sealed record LayerRecord
    {
        public required int Layer { get; init; }
        public required bool Pruned { get; init; }
        public required int OriginalHeads { get; init; }
        public required int OriginalKvHeads { get; init; }
        public required int OriginalIntermediate { get; init; }
        public int[]? KeptKvHeads { get; init; }
        public int[]? KeptHeads { get; init; }
        public int[]? KeptChannels { get; init; }
    }

    /// <summary>Query heads kept by keeping key/value groups <paramref name="groups"/> (r query heads per group).</summary>
    public static int[] HeadsOfGroups(IEnumerable<int> groups, int groupSize) =>
        groups.SelectMany(g => Enumerable.Range(g * groupSize, groupSize)).ToArray();

    // ---- the index maps recovery uses ---------------------------------------------------------

    /// <summary>
    /// Indices, in the ORIGINAL weight of <paramref name="projection"/> in layer <paramref name="layer"/>,
    /// of the rows the pruned weight keeps, in the pruned weight's row order: pruned row i = original row result[i].
    /// Non-structured methods keep every row.
    /// </summary>
    public int[] KeptRows(int layer, Projection projection) => Kept(layer, projection.Rows);

    /// <summary>Indices of the kept columns in the original weight (see <see cref="KeptRows"/>).</summary>
    public int[] KeptColumns(int layer, Projection projection) => Kept(layer, projection.Columns);

    /// <summary>The kept features of <paramref name="axis"/> in layer <paramref name="layer"/>, as original indices.</summary>
    private int[] Kept(int layer, ProjectionAxis axis)
    {
        var l = Layers[layer];
        return axis switch
        {
            ProjectionAxis.QueryHeads => Expand(l.KeptHeads, l.OriginalHeads, HeadDim),
            ProjectionAxis.KvHeads => Expand(l.KeptKvHeads, l.OriginalKvHeads, HeadDim),
            ProjectionAxis.Channels => l.KeptChannels ?? Enumerable.Range(0, l.OriginalIntermediate).ToArray(),
            _ => Enumerable.Range(0, HiddenSize).ToArray(),
        };
    }

    /// <summary>Unit indices → element indices: unit u covers [u·width, (u+1)·width).</summary>
    private static int[] Expand(int[]? units, int count, int width) =>
        (units ?? Enumerable.Range(0, count).ToArray()).SelectMany(u => Enumerable.Range(u * width, width)).ToArray();

    // ---- writing --------------------------------------------------------------------------------

    public JsonObject ToJson()
    {
        static JsonArray Ints(IEnumerable<int> v) => new(v.Select(i => (JsonNode)i).ToArray());
        var o = new JsonObject
        {
            ["format"] = Format,
            ["method"] = Method.Name(),
            ["ratio"] = Ratio,
            ["keep_first"] = KeepFirst,
            ["keep_last"] = KeepLast,
        };
        if (NM is not null) o["nm"] = NM;
        if (Importance is not null) o["importance"] = Importance;
        if (Seed is int s) o["seed"] = s;
        if (Calibration is { } c) o["calibration"] = new JsonObject { ["source"] = c.Source, ["samples"] = c.Samples, ["seq_len"] = c.SeqLen };
        o["original"] = new JsonObject
        {
            ["hidden_size"] = HiddenSize, ["num_hidden_layers"] = NumHiddenLayers, ["head_dim"] = HeadDim,
            ["vocab_size"] = VocabSize, ["parameters"] = OriginalParameters,
        };
        o["pruned_parameters"] = PrunedParameters;
        if (MasksFile is not null) o["masks_file"] = MasksFile;
        if (MaskedTensors is not null) o["masked_tensors"] = new JsonArray(MaskedTensors.Select(n => (JsonNode)n).ToArray());
        var layers = new JsonArray();
        foreach (var l in Layers)
        {
            var lo = new JsonObject
            {
                ["layer"] = l.Layer, ["pruned"] = l.Pruned, ["original_heads"] = l.OriginalHeads,
                ["original_kv_heads"] = l.OriginalKvHeads, ["original_intermediate"] = l.OriginalIntermediate,
            };
            if (l.KeptKvHeads is not null) lo["kept_kv_heads"] = Ints(l.KeptKvHeads);
            if (l.KeptHeads is not null) lo["kept_heads"] = Ints(l.KeptHeads);
            if (l.KeptChannels is not null) lo["kept_channels"] = Ints(l.KeptChannels);
            layers.Add(lo);
        }
        o["layers"] = layers;
        return o;
    }

    /// <summary>Writes <c>loram_pruning.json</c> into <paramref name="folder"/> atomically.</summary>
    public void Save(string folder)
    {
        var text = ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Llama.AtomicFile.WriteAllText(Path.Combine(folder, FileName), text);
    }

    // ---- reading and validation -----------------------------------------------------------------

    /// <summary>Reads <c>loram_pruning.json</c> (a file, or the folder holding it); checks it is internally consistent.</summary>
    /// <exception cref="UserInputException">One line naming the file, the layer and the problem.</exception>
    public static PruningRecord Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, FileName);
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{path}: cannot read the pruning record ({e.Message})", e);
        }
        return Parse(text, path);
    }

    public static PruningRecord Parse(string json, string source = FileName)
    {
        JsonObject root;
        try { root = JsonNode.Parse(json) as JsonObject ?? throw Bad(source, "expected a JSON object"); }
        catch (JsonException e) { throw Bad(source, $"not valid JSON ({e.Message})"); }
        var format = Str(root, "format", source);
        if (format != Format) throw Bad(source, $"field 'format' is '{format}', expected '{Format}'");
        PruningMethod method;
        try { method = PruningMethods.Parse(Str(root, "method", source)); }
        catch (ArgumentException e) { throw Bad(source, $"field 'method': {e.Message}"); }
        var original = root["original"] as JsonObject ?? throw Bad(source, "missing object field 'original'");
        var layersNode = root["layers"] as JsonArray ?? throw Bad(source, "missing array field 'layers'");
        var layers = new List<LayerRecord>();
        for (int i = 0; i < layersNode.Count; i++)
        {
            var lo = layersNode[i] as JsonObject ?? throw Bad(source, $"layers[{i}] is not an object");
            string where = $"layers[{i}]";
            layers.Add(new LayerRecord
            {
                Layer = Int(lo, "layer", source, where),
                Pruned = lo["pruned"] is JsonValue pv && pv.TryGetValue<bool>(out var pb) ? pb : throw Bad(source, $"{where}: field 'pruned' must be true or false"),
                OriginalHeads = Int(lo, "original_heads", source, where),
                OriginalKvHeads = Int(lo, "original_kv_heads", source, where),
                OriginalIntermediate = Int(lo, "original_intermediate", source, where),
                KeptKvHeads = Ints(lo, "kept_kv_heads", source, where),
                KeptHeads = Ints(lo, "kept_heads", source, where),
                KeptChannels = Ints(lo, "kept_channels", source, where),
            });
        }
        CalibrationInfo? calibration = null;
        if (root["calibration"] is JsonObject co)
            calibration = new CalibrationInfo(Str(co, "source", source), Int(co, "samples", source, "calibration"), Int(co, "seq_len", source, "calibration"));
        var record = new PruningRecord
        {
            Method = method,
            Ratio = root["ratio"] is JsonValue rv && rv.TryGetValue<double>(out var r) ? r : throw Bad(source, "field 'ratio' must be a number"),
            NM = root["nm"]?.GetValue<string>(),
            KeepFirst = Int(root, "keep_first", source),
            KeepLast = Int(root, "keep_last", source),
            Importance = root["importance"]?.GetValue<string>(),
            Seed = root["seed"] is null ? null : Int(root, "seed", source),
            Calibration = calibration,
            HiddenSize = Int(original, "hidden_size", source, "original"),
            NumHiddenLayers = Int(original, "num_hidden_layers", source, "original"),
            HeadDim = Int(original, "head_dim", source, "original"),
            VocabSize = Int(original, "vocab_size", source, "original"),
            OriginalParameters = Long(original, "parameters", source, "original"),
            PrunedParameters = Long(root, "pruned_parameters", source),
            Layers = layers,
            MasksFile = root["masks_file"]?.GetValue<string>(),
            MaskedTensors = root["masked_tensors"] is JsonArray mt ? mt.Select(n => n?.GetValue<string>() ?? throw Bad(source, "masked_tensors holds a null")).ToArray() : null,
        };
        record.CheckConsistency(source);
        return record;
    }

    /// <summary>Checks the record on its own: layer numbering, index ranges and order, head/group coupling.</summary>
    public void CheckConsistency(string source = FileName)
    {
        if (!(Ratio >= 0 && Ratio < 1)) throw Bad(source, $"field 'ratio' must be in [0, 1), got {Ratio}");
        if (Layers.Count != NumHiddenLayers) throw Bad(source, $"{Layers.Count} layer entries but original.num_hidden_layers is {NumHiddenLayers}");
        for (int i = 0; i < Layers.Count; i++)
        {
            var l = Layers[i];
            string where = $"layer {i}";
            if (l.Layer != i) throw Bad(source, $"{where}: entry says layer {l.Layer}");
            if (l.OriginalKvHeads <= 0 || l.OriginalHeads % l.OriginalKvHeads != 0)
                throw Bad(source, $"{where}: original_heads {l.OriginalHeads} is not a multiple of original_kv_heads {l.OriginalKvHeads}");
            if (!IsStructured)
            {
                if (l.KeptKvHeads is not null || l.KeptHeads is not null || l.KeptChannels is not null)
                    throw Bad(source, $"{where}: method '{Method.Name()}' keeps shapes, so kept indices make no sense");
                continue;
            }
            if (l.KeptKvHeads is null || l.KeptHeads is null || l.KeptChannels is null)
                throw Bad(source, $"{where}: a structured record needs kept_kv_heads, kept_heads and kept_channels");
            Ascending(l.KeptKvHeads, l.OriginalKvHeads, "kept_kv_heads");
            Ascending(l.KeptChannels, l.OriginalIntermediate, "kept_channels");
            var expected = HeadsOfGroups(l.KeptKvHeads, l.OriginalHeads / l.OriginalKvHeads);
            if (!expected.SequenceEqual(l.KeptHeads))
                throw Bad(source, $"{where}: kept_heads [{Short(l.KeptHeads)}] are not the query heads of kept_kv_heads [{Short(l.KeptKvHeads)}] (expected [{Short(expected)}])");
            if (!l.Pruned && (l.KeptKvHeads.Length != l.OriginalKvHeads || l.KeptChannels.Length != l.OriginalIntermediate))
                throw Bad(source, $"{where}: marked not pruned but keeps {l.KeptKvHeads.Length}/{l.OriginalKvHeads} groups and {l.KeptChannels.Length}/{l.OriginalIntermediate} channels");

            void Ascending(int[] kept, int count, string field)
            {
                if (kept.Length == 0) throw Bad(source, $"{where}: {field} is empty");
                for (int k = 0; k < kept.Length; k++)
                {
                    if (kept[k] < 0 || kept[k] >= count) throw Bad(source, $"{where}: {field}[{k}] = {kept[k]} is outside 0..{count - 1}");
                    if (k > 0 && kept[k] <= kept[k - 1]) throw Bad(source, $"{where}: {field} must be strictly ascending ({kept[k - 1]} then {kept[k]})");
                }
            }
        }
    }

    /// <summary>
    /// Checks that the record describes the model whose config is <paramref name="config"/> (the pruned model for
    /// structured methods; the same-shape model otherwise).
    /// </summary>
    public void ValidateAgainst(LlamaConfig config, string source = FileName)
    {
        CheckConsistency(source);
        if (config.HiddenSize != HiddenSize) throw Bad(source, $"hidden_size {HiddenSize} but the model's config has {config.HiddenSize}");
        if (config.HeadDim != HeadDim) throw Bad(source, $"head_dim {HeadDim} but the model's config has {config.HeadDim}");
        if (config.VocabSize != VocabSize) throw Bad(source, $"vocab_size {VocabSize} but the model's config has {config.VocabSize}");
        if (config.NumHiddenLayers != NumHiddenLayers) throw Bad(source, $"{NumHiddenLayers} layers but the model's config has {config.NumHiddenLayers}");
        for (int i = 0; i < Layers.Count; i++)
        {
            var l = Layers[i];
            int heads = l.KeptHeads?.Length ?? l.OriginalHeads, kv = l.KeptKvHeads?.Length ?? l.OriginalKvHeads, ff = l.KeptChannels?.Length ?? l.OriginalIntermediate;
            if (config.HeadsAt(i) != heads || config.KvHeadsAt(i) != kv || config.IntermediateAt(i) != ff)
                throw Bad(source, $"layer {i}: record keeps {heads} heads / {kv} kv heads / {ff} channels but the model has {config.HeadsAt(i)} / {config.KvHeadsAt(i)} / {config.IntermediateAt(i)}");
        }
        if (config.ParameterCount() != (IsStructured ? PrunedParameters : OriginalParameters))
            throw Bad(source, $"the model has {config.ParameterCount()} parameters, the record says {(IsStructured ? PrunedParameters : OriginalParameters)}");
    }

    /// <summary>Loads the record of a pruned model folder and validates it against the folder's config.json.</summary>
    public static PruningRecord LoadFor(string modelFolder)
    {
        var path = Path.Combine(modelFolder, FileName);
        if (!File.Exists(path)) throw new UserInputException($"{modelFolder}: no {FileName} (not a folder written by loram prune)");
        var record = Load(path);
        record.ValidateAgainst(LlamaConfig.Load(Path.Combine(modelFolder, ModelFolder.Config)), path);
        return record;
    }

    private static string Short(int[] v) => v.Length <= 8 ? string.Join(", ", v) : string.Join(", ", v.Take(8)) + ", …";

    private static UserInputException Bad(string source, string message) => new($"{source}: {message}");

    private static string Str(JsonObject o, string field, string source) =>
        o[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw Bad(source, $"field '{field}' must be a string");

    private static int Int(JsonObject o, string field, string source, string? where = null) =>
        o[field] is JsonValue v && v.TryGetValue<int>(out var i) ? i : throw Bad(source, $"{(where is null ? "" : where + ": ")}field '{field}' must be an integer");

    private static long Long(JsonObject o, string field, string source, string? where = null) =>
        o[field] is JsonValue v && v.TryGetValue<long>(out var i) ? i : throw Bad(source, $"{(where is null ? "" : where + ": ")}field '{field}' must be an integer");

    private static int[]? Ints(JsonObject o, string field, string source, string where)
    {
        if (o[field] is null) return null;
        if (o[field] is not JsonArray a) throw Bad(source, $"{where}: field '{field}' must be an array of integers");
        var r = new int[a.Count];
        for (int i = 0; i < a.Count; i++)
            r[i] = a[i] is JsonValue v && v.TryGetValue<int>(out var x) ? x : throw Bad(source, $"{where}: {field}[{i}] must be an integer");
        return r;
    }
}
