using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Llama;

namespace LoRAM.Lora;

/// <summary>
/// The PEFT adapter folder: <c>adapter_config.json</c> (peft_type LORA, r, lora_alpha, target_modules, …) and
/// <c>adapter_model.safetensors</c> with tensors <c>base_model.model.&lt;module path&gt;.lora_A.weight</c> [r, in] and
/// <c>.lora_B.weight</c> [out, r], e.g. <c>base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight</c>.
/// That is what PEFT's <c>save_pretrained</c> writes, so the adapters we produce load in PEFT and vLLM, and theirs load here.
/// </summary>
public static class PeftAdapterFormat
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    private const string Prefix = "base_model.model.";

    public static string TensorName(string modulePath, char matrix) => $"{Prefix}{modulePath}.lora_{matrix}.weight";

    /// <summary>The module path and matrix ('A' or 'B') of a PEFT tensor name, or null if it is not one.</summary>
    public static (string Path, char Matrix)? ParseTensorName(string name)
    {
        if (!name.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        foreach (var m in "AB")
        {
            var suffix = $".lora_{m}.weight";
            if (name.EndsWith(suffix, StringComparison.Ordinal)) return (name[Prefix.Length..^suffix.Length], m);
        }
        return null;
    }

    /// <summary>adapter_config.json as PEFT's LoraConfig writes it: its fields only, with PEFT's values for the
    /// features we do not use (no DoRA, no bias, no layer replication), so PEFT's <c>LoraConfig.from_pretrained</c> reads it.</summary>
    public static string ConfigJson(LoraSettings s, string? baseModel) => new JsonObject
    {
        ["alpha_pattern"] = new JsonObject(s.AlphaPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        ["auto_mapping"] = null,
        ["base_model_name_or_path"] = baseModel,
        ["bias"] = "none",
        ["fan_in_fan_out"] = false,
        ["inference_mode"] = true,
        ["init_lora_weights"] = true,
        ["layer_replication"] = null,
        ["layers_pattern"] = null,
        ["layers_to_transform"] = s.LayersToTransform is null ? null : new JsonArray(s.LayersToTransform.Select(l => (JsonNode)JsonValue.Create(l)).ToArray()),
        ["lora_alpha"] = s.Alpha,
        ["lora_dropout"] = s.Dropout,
        ["modules_to_save"] = null,
        ["peft_type"] = "LORA",
        ["r"] = s.Rank,
        ["rank_pattern"] = new JsonObject(s.RankPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        ["revision"] = null,
        ["target_modules"] = new JsonArray(s.TargetModules.Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()),
        ["task_type"] = "CAUSAL_LM",
        ["use_dora"] = false,
        ["use_rslora"] = s.UseRsLora,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>Reads adapter_config.json; any field that would change the math and that we do not implement is an error.</summary>
    public static LoraSettings ReadConfig(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: no such file (an adapter folder needs {ConfigFile})");
        JsonNode? root;
        try
        {
            string text = File.ReadAllText(path);
            using (var doc = JsonDocument.Parse(text))
                if (JsonText.FindInvalidString(doc.RootElement) is { } bad) throw new UserInputException($"{path}: {JsonText.Describe(bad)}");
            root = JsonNode.Parse(text);
        }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})", e); }
        if (root is not JsonObject o) throw new UserInputException($"{path}: expected a JSON object");

        T Field<T>(string name, T fallback, bool required = false)
        {
            var node = o[name];
            if (node is null) return required ? throw new UserInputException($"{path}: field '{name}' is missing") : fallback;
            try { return node.GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new UserInputException($"{path}: field '{name}' has the wrong type ({node.ToJsonString()})", e);
            }
        }
        var peftType = Field<string?>("peft_type", "LORA");
        if (peftType != "LORA") throw new UserInputException($"{path}: field 'peft_type' is '{peftType}'; only LORA adapters are supported");
        if (Field("fan_in_fan_out", false)) throw new UserInputException($"{path}: field 'fan_in_fan_out' is true; LLaMA projections are not transposed (Conv1D) layers");
        var bias = Field<string?>("bias", "none");
        if (bias != "none") throw new UserInputException($"{path}: field 'bias' is '{bias}'; only bias-free adapters are supported");

        // Features that change the math and that we do not implement: refused by name, never ignored.
        if (Field("use_dora", false)) throw new UserInputException($"{path}: field 'use_dora' is true; DoRA adapters are not supported");
        if (Field("lora_bias", false)) throw new UserInputException($"{path}: field 'lora_bias' is true; LoRA biases are not supported");
        foreach (var name in new[] { "layer_replication", "modules_to_save", "trainable_token_indices", "exclude_modules" })
            if (o[name] is { } n && !(n is JsonArray { Count: 0 } || n is JsonObject { Count: 0 }))
                throw new UserInputException($"{path}: field '{name}' is {n.ToJsonString()}; adapters with it are not supported");
        if (o["layers_pattern"] is { } lp && !(lp.GetValueKind() == JsonValueKind.String && lp.GetValue<string>() == "layers"
                || lp is JsonArray { Count: 1 } one && one[0]?.ToString() == "layers"))
            throw new UserInputException($"{path}: field 'layers_pattern' is {lp.ToJsonString()}; a LLaMA's layers are 'layers'");
        IReadOnlyList<int>? layers = o["layers_to_transform"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number => [v.GetValue<int>()],
            JsonArray a => a.Select(n => n?.GetValueKind() == JsonValueKind.Number ? n.GetValue<int>()
                : throw new UserInputException($"{path}: field 'layers_to_transform' must list layer indices")).ToList(),
            var other => throw new UserInputException($"{path}: field 'layers_to_transform' must be a layer index or a list of them, got {other.ToJsonString()}"),
        };
        Dictionary<string, T> Pattern<T>(string name)
        {
            var result = new Dictionary<string, T>();
            if (o[name] is null) return result;
            if (o[name] is not JsonObject p) throw new UserInputException($"{path}: field '{name}' must be an object of module pattern → value");
            foreach (var (key, value) in p)
            {
                try { _ = new System.Text.RegularExpressions.Regex(key); }
                catch (ArgumentException) { throw new UserInputException($"{path}: field '{name}' key '{key}' is not a valid pattern"); }
                try { result[key] = value!.GetValue<T>(); }
                catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
                {
                    throw new UserInputException($"{path}: field '{name}' key '{key}' must map to a number, got {value?.ToJsonString() ?? "null"}", e);
                }
            }
            return result;
        }

        IReadOnlyList<string> targets = o["target_modules"] switch
        {
            JsonArray a => a.Select(n => n?.GetValueKind() == JsonValueKind.String ? n.GetValue<string>()
                : throw new UserInputException($"{path}: field 'target_modules' must list module names")).ToList(),
            // PEFT reads a string as a regex over full module names; a bare module name is the only one we honour.
            JsonValue v when v.GetValueKind() == JsonValueKind.String && (LoraSettings.AllProjections.Contains(v.GetValue<string>()) || v.GetValue<string>() == "lm_head") => [v.GetValue<string>()],
            JsonValue v when v.GetValueKind() == JsonValueKind.String =>
                throw new UserInputException($"{path}: field 'target_modules' is the regex \"{v.GetValue<string>()}\"; list the module names instead (q_proj, …)"),
            null => throw new UserInputException($"{path}: field 'target_modules' is missing"),
            _ => throw new UserInputException($"{path}: field 'target_modules' must be a list of module names"),
        };
        var settings = new LoraSettings
        {
            Rank = Field("r", 0, required: true),
            Alpha = Field("lora_alpha", 0f, required: true),
            Dropout = Field("lora_dropout", 0f),
            TargetModules = targets,
            UseRsLora = Field("use_rslora", false),
            RankPattern = Pattern<int>("rank_pattern"),
            AlphaPattern = Pattern<float>("alpha_pattern"),
            LayersToTransform = layers,
        };
        try { settings.Validate(); }
        catch (ArgumentException e) { throw new UserInputException($"{path}: {e.Message}", e); }
        return settings;
    }
}
