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

    public static string ConfigJson(LoraSettings s, string? baseModel) => new JsonObject
    {
        ["peft_type"] = "LORA",
        ["task_type"] = "CAUSAL_LM",
        ["base_model_name_or_path"] = baseModel,
        ["r"] = s.Rank,
        ["lora_alpha"] = s.Alpha,
        ["lora_dropout"] = s.Dropout,
        ["target_modules"] = new JsonArray(s.TargetModules.Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()),
        ["use_rslora"] = s.UseRsLora,
        ["bias"] = "none",
        ["fan_in_fan_out"] = false,
        ["inference_mode"] = true,
        ["init_lora_weights"] = true,
        ["modules_to_save"] = null,
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

        IReadOnlyList<string> targets = o["target_modules"] switch
        {
            JsonArray a => a.Select(n => n?.GetValueKind() == JsonValueKind.String ? n.GetValue<string>()
                : throw new UserInputException($"{path}: field 'target_modules' must list module names")).ToList(),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => [v.GetValue<string>()],
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
        };
        try { settings.Validate(); }
        catch (ArgumentException e) { throw new UserInputException($"{path}: {e.Message}", e); }
        return settings;
    }
}
