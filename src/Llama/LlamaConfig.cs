using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoRAM.Llama;

/// <summary>
/// The shape of a LLaMA model as Hugging Face's <c>config.json</c> states it (field names are HF's), plus LoRAM's
/// per-layer overrides for structurally pruned models: <c>loram_layer_heads</c>, <c>loram_layer_kv_heads</c> and
/// <c>loram_layer_intermediate</c> give each layer's surviving query heads, key/value heads and MLP channels
/// (absent: every layer has the uniform size). Fields this type does not model are kept in <see cref="Extra"/> and
/// written back, so a config survives a read/write round trip.
/// </summary>
public sealed record LlamaConfig
{
    /// <summary>
    /// Most decoder layers a config may declare: 10,000, ~80× the deepest published LLaMA (405B, 126 layers). A config
    /// is read before any weights (and <c>loram plan</c> reads nothing else), so this bounds what per-layer lists cost
    /// before a checkpoint can say otherwise; with weights, the layers must also be exactly those the checkpoint holds
    /// (<see cref="ConfigAgreement"/>).
    /// </summary>
    public const int MaxLayers = 10_000;

    /// <summary>Most parameters a config may imply: 10^15 (2 PB at BF16, ~2,500× LLaMA-3.1-405B). Keeps every count,
    /// byte and plan figure well inside a 64-bit integer; a config past it is a typo or an attack, not a model.</summary>
    public const double MaxParameters = 1e15;

    public required int HiddenSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    /// <summary>Key/value heads (GQA); HF's default is <see cref="NumAttentionHeads"/>.</summary>
    public required int NumKeyValueHeads { get; init; }
    public required int IntermediateSize { get; init; }
    public required int VocabSize { get; init; }
    /// <summary>Per-head width; HF's default is hidden_size / num_attention_heads.</summary>
    public required int HeadDim { get; init; }
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }
    public int? BosTokenId { get; init; }
    /// <summary>End-of-sequence ids: config.json holds one int or (LLaMA-3.1+) an array.</summary>
    public int[] EosTokenIds { get; init; } = [];
    public string? TorchDtype { get; init; }

    /// <summary>Query heads of each layer after structured pruning; null = <see cref="NumAttentionHeads"/> everywhere.</summary>
    public int[]? LayerHeads { get; init; }
    /// <summary>Key/value heads of each layer after structured pruning; null = <see cref="NumKeyValueHeads"/> everywhere.</summary>
    public int[]? LayerKvHeads { get; init; }
    /// <summary>MLP channels of each layer after structured pruning; null = <see cref="IntermediateSize"/> everywhere.</summary>
    public int[]? LayerIntermediate { get; init; }

    /// <summary>Every other field of the file (architectures, model_type, ...), written back unchanged.</summary>
    public JsonObject? Extra { get; init; }

    public int HeadsAt(int layer) => LayerHeads?[layer] ?? NumAttentionHeads;
    public int KvHeadsAt(int layer) => LayerKvHeads?[layer] ?? NumKeyValueHeads;
    public int IntermediateAt(int layer) => LayerIntermediate?[layer] ?? IntermediateSize;

    /// <summary>Exact number of parameters: embedding, per layer q/k/v/o, gate/up/down and the two RMSNorm weights,
    /// the final norm, and the LM head unless it is tied to the embedding. LLaMA has no biases.</summary>
    public long ParameterCount()
    {
        long h = HiddenSize, total = (long)VocabSize * h;
        for (int l = 0; l < NumHiddenLayers; l++)
        {
            long q = (long)HeadsAt(l) * HeadDim, kv = (long)KvHeadsAt(l) * HeadDim, ff = IntermediateAt(l);
            total += h * q + 2 * h * kv + q * h;   // q, k, v, o projections
            total += 3 * h * ff;                   // gate, up, down
            total += 2 * h;                        // input and post-attention RMSNorm
        }
        total += h;                                // final norm
        if (!TieWordEmbeddings) total += (long)VocabSize * h;
        return total;
    }

    /// <summary><see cref="ParameterCount"/> in float64 (no overflow for any field values).</summary>
    private double ParameterCountEstimate()
    {
        double h = HiddenSize, total = (double)VocabSize * h * (TieWordEmbeddings ? 1 : 2) + h;
        for (int l = 0; l < NumHiddenLayers; l++)
        {
            double q = (double)HeadsAt(l) * HeadDim, kv = (double)KvHeadsAt(l) * HeadDim, ff = IntermediateAt(l);
            total += 2 * h * q + 2 * h * kv + 3 * h * ff + 2 * h;
        }
        return total;
    }

    // ---- reading --------------------------------------------------------------------------------

    /// <summary>Reads and validates a config.json.</summary>
    public static LlamaConfig Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw LlamaFormatException.In(path, $"cannot read the model config ({e.Message})", e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names the file in error messages.</summary>
    public static LlamaConfig Parse(string json, string source = "config.json")
    {
        JsonObject root;
        var options = new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, AllowDuplicateProperties = false };
        try
        {
            using (var doc = JsonDocument.Parse(json, options))
                if (JsonText.FindInvalidString(doc.RootElement) is { } bad) throw LlamaFormatException.In(source, JsonText.Describe(bad));
            root = JsonNode.Parse(json, documentOptions: options) as JsonObject ?? throw LlamaFormatException.In(source, "expected a JSON object");
        }
        catch (JsonException e) { throw LlamaFormatException.In(source, $"not valid JSON ({e.Message})", e); }
        catch (InvalidOperationException e) { throw LlamaFormatException.In(source, JsonText.Describe(JsonText.InvalidPropertyName), e); }

        var r = new FieldReader(root, source);
        if (r.Bool("attention_bias", false) || r.Bool("mlp_bias", false))
            throw LlamaFormatException.In(source, $"field '{(r.Peek("attention_bias") ? "attention_bias" : "mlp_bias")}' is true; biases in attention or MLP projections are not supported (LLaMA has none)");
        // The MLP is SwiGLU: silu(gate)·up. Another activation would run, wrongly, with silu.
        if (root["hidden_act"] is { } act && !(act is JsonValue av && av.TryGetValue<string>(out var actName) && actName == "silu"))
            throw LlamaFormatException.In(source, $"field 'hidden_act' is {act.ToJsonString()}; only \"silu\" (LLaMA's SwiGLU) is supported");
        int hidden = r.RequiredInt("hidden_size");
        int heads = r.RequiredInt("num_attention_heads");
        if (heads <= 0) throw LlamaFormatException.In(source, $"field 'num_attention_heads' must be positive, got {heads}");
        int? headDim = r.Int("head_dim");
        // Without head_dim, HF derives it as hidden_size / num_attention_heads; a remainder means the config is wrong,
        // not that the heads are a little narrower. (With head_dim, heads × head_dim may differ from hidden_size.)
        if (headDim is null && hidden > 0 && hidden % heads != 0)
            throw LlamaFormatException.In(source, $"field 'num_attention_heads' ({heads}) must divide hidden_size ({hidden}) when head_dim is not given");
        var config = new LlamaConfig
        {
            HiddenSize = hidden,
            NumHiddenLayers = r.RequiredInt("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = r.Int("num_key_value_heads") ?? heads,
            IntermediateSize = r.RequiredInt("intermediate_size"),
            VocabSize = r.RequiredInt("vocab_size"),
            HeadDim = headDim ?? hidden / heads,
            RmsNormEps = r.Double("rms_norm_eps") ?? 1e-6,
            RopeTheta = r.Double("rope_theta") ?? 10000.0,
            RopeScaling = r.Scaling("rope_scaling"),
            MaxPositionEmbeddings = r.Int("max_position_embeddings") ?? 2048,
            TieWordEmbeddings = r.Bool("tie_word_embeddings", false),
            BosTokenId = r.Int("bos_token_id"),
            EosTokenIds = r.IntOrInts("eos_token_id") ?? [],
            TorchDtype = r.String("torch_dtype"),
            LayerHeads = r.Ints("loram_layer_heads"),
            LayerKvHeads = r.Ints("loram_layer_kv_heads"),
            LayerIntermediate = r.Ints("loram_layer_intermediate"),
            Extra = r.Rest(),
        };
        config.Validate(source);
        return config;
    }

    /// <summary>Checks that the sizes are consistent; throws <see cref="LlamaFormatException"/> naming the field.</summary>
    public void Validate(string source = "config.json")
    {
        void Positive(string field, long v) { if (v <= 0) throw LlamaFormatException.In(source, $"field '{field}' must be positive, got {v}"); }
        Positive("hidden_size", HiddenSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("num_key_value_heads", NumKeyValueHeads);
        Positive("intermediate_size", IntermediateSize);
        Positive("vocab_size", VocabSize);
        Positive("head_dim", HeadDim);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        if (NumHiddenLayers > MaxLayers)
            throw LlamaFormatException.In(source, $"field 'num_hidden_layers' is {NumHiddenLayers}, over the {MaxLayers} this tool accepts (the deepest LLaMA has 126)");
        if (HeadDim % 2 != 0) throw LlamaFormatException.In(source, $"field 'head_dim' must be even for rotary embeddings, got {HeadDim}");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw LlamaFormatException.In(source, $"field 'num_key_value_heads' ({NumKeyValueHeads}) must divide num_attention_heads ({NumAttentionHeads})");
        if (!(RmsNormEps > 0)) throw LlamaFormatException.In(source, $"field 'rms_norm_eps' must be positive, got {RmsNormEps}");
        if (!(RopeTheta > 0)) throw LlamaFormatException.In(source, $"field 'rope_theta' must be positive, got {RopeTheta}");
        if (BosTokenId is int bos && (bos < 0 || bos >= VocabSize))
            throw LlamaFormatException.In(source, $"field 'bos_token_id' ({bos}) is outside the vocabulary [0, {VocabSize})");
        foreach (var eos in EosTokenIds)
            if (eos < 0 || eos >= VocabSize)
                throw LlamaFormatException.In(source, $"field 'eos_token_id' ({eos}) is outside the vocabulary [0, {VocabSize})");
        CheckLayers("loram_layer_heads", LayerHeads, allowZero: true);
        CheckLayers("loram_layer_kv_heads", LayerKvHeads, allowZero: true);
        CheckLayers("loram_layer_intermediate", LayerIntermediate, allowZero: true);
        if (LayerHeads is not null || LayerKvHeads is not null)
            for (int l = 0; l < NumHiddenLayers; l++)
            {
                int q = HeadsAt(l), kv = KvHeadsAt(l);
                if (kv == 0 ? q != 0 : q % kv != 0)
                    throw LlamaFormatException.In(source, $"layer {l}: {q} query heads is not a multiple of its {kv} key/value heads (loram_layer_heads / loram_layer_kv_heads)");
            }
        // In float64, so the check itself cannot overflow (each size is below 2^31, layers below 10^4).
        double parameters = ParameterCountEstimate();
        if (parameters > MaxParameters)
            throw LlamaFormatException.In(source, $"hidden_size {HiddenSize}, intermediate_size {IntermediateSize}, vocab_size {VocabSize}, {NumAttentionHeads}/{NumKeyValueHeads} heads of head_dim {HeadDim} and {NumHiddenLayers} layers imply {parameters:E2} parameters, over the {MaxParameters:E0} this tool accepts");

        void CheckLayers(string field, int[]? values, bool allowZero)
        {
            if (values is null) return;
            if (values.Length != NumHiddenLayers)
                throw LlamaFormatException.In(source, $"field '{field}' has {values.Length} entries but num_hidden_layers is {NumHiddenLayers}");
            for (int i = 0; i < values.Length; i++)
                if (values[i] < 0 || (!allowZero && values[i] == 0))
                    throw LlamaFormatException.In(source, $"field '{field}'[{i}] must be {(allowZero ? "non-negative" : "positive")}, got {values[i]}");
        }
    }

    // ---- writing --------------------------------------------------------------------------------

    /// <summary>The config as config.json text, with HF's field names.</summary>
    public string ToJson()
    {
        var o = new JsonObject();
        if (Extra is null || !Extra.ContainsKey("architectures")) o["architectures"] = new JsonArray("LlamaForCausalLM");
        if (Extra is null || !Extra.ContainsKey("model_type")) o["model_type"] = "llama";
        o["hidden_size"] = HiddenSize;
        o["num_hidden_layers"] = NumHiddenLayers;
        o["num_attention_heads"] = NumAttentionHeads;
        o["num_key_value_heads"] = NumKeyValueHeads;
        o["intermediate_size"] = IntermediateSize;
        o["vocab_size"] = VocabSize;
        o["head_dim"] = HeadDim;
        o["rms_norm_eps"] = RmsNormEps;
        o["rope_theta"] = RopeTheta;
        o["rope_scaling"] = RopeScaling is null ? null : RopeScaling.Type != RopeScaling.Llama3
            ? new JsonObject { ["rope_type"] = RopeScaling.Type, ["factor"] = RopeScaling.Factor }
            : new JsonObject
            {
                ["rope_type"] = RopeScaling.Llama3,
                ["factor"] = RopeScaling.Factor,
                ["low_freq_factor"] = RopeScaling.LowFreqFactor,
                ["high_freq_factor"] = RopeScaling.HighFreqFactor,
                ["original_max_position_embeddings"] = RopeScaling.OriginalMaxPositionEmbeddings,
            };
        o["max_position_embeddings"] = MaxPositionEmbeddings;
        o["tie_word_embeddings"] = TieWordEmbeddings;
        if (BosTokenId is int bos) o["bos_token_id"] = bos;
        if (EosTokenIds.Length == 1) o["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Length > 1) o["eos_token_id"] = new JsonArray(EosTokenIds.Select(i => (JsonNode)i).ToArray());
        if (TorchDtype is not null) o["torch_dtype"] = TorchDtype;
        if (LayerHeads is not null) o["loram_layer_heads"] = new JsonArray(LayerHeads.Select(i => (JsonNode)i).ToArray());
        if (LayerKvHeads is not null) o["loram_layer_kv_heads"] = new JsonArray(LayerKvHeads.Select(i => (JsonNode)i).ToArray());
        if (LayerIntermediate is not null) o["loram_layer_intermediate"] = new JsonArray(LayerIntermediate.Select(i => (JsonNode)i).ToArray());
        if (Extra is not null)
            foreach (var (k, v) in Extra) o[k] = v?.DeepClone();
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Writes config.json atomically (temporary file, then rename).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    /// <summary>Reads typed fields off the JSON object, removing each so what is left over is <see cref="Extra"/>.</summary>
    private sealed class FieldReader(JsonObject root, string source)
    {
        private readonly JsonObject _rest = (JsonObject)root.DeepClone();

        private JsonNode? Take(string field)
        {
            _rest.Remove(field);
            return root[field];
        }

        private LlamaFormatException Bad(string field, string expected, JsonNode? got) =>
            LlamaFormatException.In(source, $"field '{field}' must be {expected}, got {got?.ToJsonString() ?? "null"}");

        public int? Int(string field)
        {
            var n = Take(field);
            if (n is null) return null;
            try { return n.GetValue<int>(); }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            {
                if (n is JsonValue v && v.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
                throw Bad(field, "an integer", n);
            }
        }

        public int RequiredInt(string field) =>
            Int(field) ?? throw LlamaFormatException.In(source, $"required field '{field}' is missing");

        public double? Double(string field)
        {
            var n = Take(field);
            if (n is null) return null;
            if (n is JsonValue v && v.TryGetValue<double>(out var d)) return d;
            throw Bad(field, "a number", n);
        }

        /// <summary>A boolean field's value without taking it (false when absent or not a boolean).</summary>
        public bool Peek(string field) => root[field] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

        public bool Bool(string field, bool fallback)
        {
            var n = Take(field);
            if (n is null) return fallback;
            if (n is JsonValue v && v.TryGetValue<bool>(out var b)) return b;
            throw Bad(field, "true or false", n);
        }

        public string? String(string field)
        {
            var n = Take(field);
            if (n is null) return null;
            if (n is JsonValue v && v.TryGetValue<string>(out var s)) return s;
            throw Bad(field, "a string", n);
        }

        public int[]? Ints(string field)
        {
            var n = Take(field);
            if (n is null) return null;
            if (n is not JsonArray a) throw Bad(field, "an array of integers", n);
            var result = new int[a.Count];
            for (int i = 0; i < a.Count; i++)
                result[i] = a[i] is JsonValue v && v.TryGetValue<int>(out var x) ? x : throw Bad($"{field}[{i}]", "an integer", a[i]);
            return result;
        }

        public int[]? IntOrInts(string field)
        {
            var n = root[field];
            if (n is JsonArray) return Ints(field);
            return Int(field) is int one ? [one] : null;
        }

        public RopeScaling? Scaling(string field)
        {
            var n = Take(field);
            if (n is null) return null;
            if (n is not JsonObject o) throw Bad(field, "an object", n);
            var type = (o["rope_type"] ?? o["type"])?.ToString();
            if (type is RopeScaling.LinearType or RopeScaling.DynamicType)
            {
                double factor = new FieldReader(o, source).Double("factor") ?? throw LlamaFormatException.In(source, $"field '{field}.factor' is missing");
                // HF warns for factor < 1 and computes nonsense; a factor below 1 is a typo, not a scaling.
                if (!(factor >= 1)) throw LlamaFormatException.In(source, $"field '{field}.factor' must be at least 1, got {factor}");
                return type == RopeScaling.LinearType ? RopeScaling.Linear(factor) : RopeScaling.Dynamic(factor);
            }
            if (type != RopeScaling.Llama3)
                throw LlamaFormatException.In(source, $"field '{field}': rope_type '{type ?? "(missing)"}' is not supported (only \"{RopeScaling.Llama3}\", \"{RopeScaling.LinearType}\" and \"{RopeScaling.DynamicType}\")");
            var inner = new FieldReader(o, source);
            double Need(string f) => inner.Double(f) ?? throw LlamaFormatException.In(source, $"field '{field}.{f}' is missing");
            var s = new RopeScaling(Need("factor"), Need("low_freq_factor"), Need("high_freq_factor"),
                inner.Int("original_max_position_embeddings") ?? throw LlamaFormatException.In(source, $"field '{field}.original_max_position_embeddings' is missing"));
            if (!(s.Factor > 0) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositionEmbeddings <= 0)
                throw LlamaFormatException.In(source, $"field '{field}': need factor > 0, 0 < low_freq_factor < high_freq_factor, original_max_position_embeddings > 0; got {o.ToJsonString()}");
            return s;
        }

        public JsonObject? Rest() => _rest.Count == 0 ? null : _rest;
    }
}
