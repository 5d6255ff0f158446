using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using LoRAM.Llama;
using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Quantization;

/// <summary>
/// <c>loram quantize</c>: a Hugging Face LLaMA folder → the same model with the seven linear projections of every
/// layer (q, k, v, o, gate, up, down) in NF4 (<see cref="BitsandbytesLayout"/>), everything else (embedding, norms,
/// lm_head, any other tensor) copied in its own dtype. Writes model.safetensors (atomically), then config.json with a
/// bitsandbytes <c>quantization_config</c> — last, so a folder that declares quantization has its weights — and
/// copies the tokenizer and LoRAM side files (pruning record, masks). The whole quantized model is held in host
/// memory until it is written (≈ 4.1–4.5 bits per projection weight).
/// </summary>
/// <summary>What <c>loram quantize</c> is told.</summary>
public sealed record QuantizeOptions
{
    /// <summary>Hugging Face LLaMA folder to quantize.</summary>
    public required string Model { get; init; }
    /// <summary>Folder to write the quantized model into.</summary>
    public required string Out { get; init; }
    /// <summary>Quantize the block scales too (QLoRA's double quantization, ≈ 4.127 bits/weight).</summary>
    public bool DoubleQuant { get; init; }
}

public static class ModelQuantizer
{
    /// <summary>Side files of a LoRAM folder copied along with the tokenizer.</summary>
    private static readonly string[] SideFiles = ["loram_pruning.json", "masks.safetensors"];

    /// <summary>What was written: bytes by tensor kind and bits per quantized weight actually stored.</summary>
    /// <param name="CodeBytes">packed 4-bit codes</param>
    /// <param name="AbsmaxBytes">per-block scales as stored: F32, or U8 codes plus the F32 nested scales</param>
    /// <param name="ConstantBytes">per-tensor constants: quant_map, nested_quant_map, quant_state JSON</param>
    /// <param name="DenseBytes">tensors kept in their dtype (embedding, norms, lm_head)</param>
    public sealed record QuantizeReport(string Output, bool DoubleQuant, int QuantizedTensors, long QuantizedParameters,
        long CodeBytes, long AbsmaxBytes, long ConstantBytes, long DenseBytes, long FileBytes,
        double BitsPerParameter, double BitsPerParameterWithConstants, double MaxRelativeError, double Seconds);

    /// <summary>Quantizes with the input checked first: a missing model, an output that is a file or bad weights are bad input.</summary>
    public static QuantizeReport Run(QuantizeOptions o)
    {
        if (!Directory.Exists(o.Model)) throw new UserInputException($"{o.Model}: no such model folder");
        if (File.Exists(o.Out)) throw new UserInputException($"{o.Out}: is a file, --out needs a folder");
        if (Path.GetFullPath(o.Model).TrimEnd('/') == Path.GetFullPath(o.Out).TrimEnd('/')) throw new UserInputException("--out must differ from --model");
        using var outputLock = OutputLock.Inside(o.Out);   // one run per output folder
        try { return Quantize(o.Model, o.Out, o.DoubleQuant); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        catch (ArgumentException e) { throw new UserInputException(e.Message, e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UserInputException($"{o.Out}: cannot write the quantized model ({e.Message})", e); }
    }

    public static QuantizeReport Quantize(string modelDir, string outDir, bool doubleQuant)
    {
        var clock = Stopwatch.StartNew();
        string configPath = Path.Combine(modelDir, ModelFolder.Config);
        var config = LlamaConfig.Load(configPath);
        if (Path.GetFullPath(modelDir) == Path.GetFullPath(outDir)) throw new ArgumentException("--out must differ from --model");
        using var checkpoint = SafetensorsCheckpoint.Open(modelDir);
        // The layers the config names must be the checkpoint's before a per-layer name set is built from it.
        ConfigAgreement.CheckLayers(config, configPath, checkpoint, modelDir);
        Directory.CreateDirectory(outDir);
        var projections = new HashSet<string>();
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var name in new[] { LlamaTensorNames.Q(l), LlamaTensorNames.K(l), LlamaTensorNames.V(l), LlamaTensorNames.O(l),
                         LlamaTensorNames.Gate(l), LlamaTensorNames.Up(l), LlamaTensorNames.Down(l) })
                projections.Add(name);

        using var cpu = new CpuBackend();
        var writer = new SafetensorsWriter();
        writer.Metadata["format"] = "pt";
        var kept = new List<Tensor>();
        long codeBytes = 0, absmaxBytes = 0, constantBytes = 0, denseBytes = 0, parameters = 0;
        double maxRelative = 0;
        int quantized = 0;
        try
        {
            foreach (var name in checkpoint.Names.OrderBy(n => n, StringComparer.Ordinal))
            {
                var entry = checkpoint[name];
                if (!projections.Contains(name))
                {
                    var t = checkpoint.Load(cpu, name);
                    kept.Add(t);
                    writer.Add(name, t);
                    denseBytes += t.Bytes;
                    continue;
                }
                if (entry.Shape.Length != 2) throw new LlamaFormatException($"{checkpoint.FileOf(name).Path}: tensor '{name}' is not a matrix");
                int rows = entry.Shape[0], cols = entry.Shape[1];
                float[] w;
                using (var f = checkpoint.Load(cpu, name, DType.F32)) w = f.ToArray<float>();
                var q = Nf4Quantizer.Quantize(w, rows, cols, doubleQuant);
                maxRelative = Math.Max(maxRelative, Nf4Quantizer.RoundTripError(w, q).Relative);
                string dtype = entry.DTypeName switch { "BF16" => "bfloat16", "F16" => "float16", _ => "float32" };
                var (codes, absmax, constants) = Add(writer, name, q, dtype);
                codeBytes += codes; absmaxBytes += absmax; constantBytes += constants;
                parameters += q.Count;
                quantized++;
            }
            if (quantized != projections.Count)
                throw new LlamaFormatException($"{modelDir}: found {quantized} of the {projections.Count} linear projections config.json implies");
            writer.Save(Path.Combine(outDir, ModelFolder.Weights));
        }
        finally { foreach (var t in kept) t.Dispose(); }

        var extra = config.Extra?.DeepClone().AsObject() ?? new JsonObject();
        extra["quantization_config"] = new JsonObject
        {
            ["quant_method"] = "bitsandbytes",
            ["load_in_4bit"] = true,
            ["load_in_8bit"] = false,
            ["bnb_4bit_quant_type"] = "nf4",
            ["bnb_4bit_use_double_quant"] = doubleQuant,
            ["bnb_4bit_compute_dtype"] = "float32",
            ["bnb_4bit_quant_storage"] = "uint8",
            ["llm_int8_skip_modules"] = new JsonArray("embed_tokens", "lm_head"),
        };
        (config with { Extra = extra }).Save(Path.Combine(outDir, ModelFolder.Config));
        ModelFolder.CopyTokenizerFiles(modelDir, outDir);
        foreach (var side in SideFiles)
            if (File.Exists(Path.Combine(modelDir, side))) File.Copy(Path.Combine(modelDir, side), Path.Combine(outDir, side), overwrite: true);

        long fileBytes = new FileInfo(Path.Combine(outDir, ModelFolder.Weights)).Length;
        double bits = parameters == 0 ? 0 : (codeBytes + absmaxBytes) * 8.0 / parameters;
        double bitsAll = parameters == 0 ? 0 : (codeBytes + absmaxBytes + constantBytes) * 8.0 / parameters;
        return new QuantizeReport(Path.GetFullPath(outDir), doubleQuant, quantized, parameters, codeBytes, absmaxBytes, constantBytes, denseBytes,
            fileBytes, bits, bitsAll, maxRelative, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Adds one weight's arrays; returns (code, absmax, constant) bytes.</summary>
    private static (long Codes, long Absmax, long Constants) Add(SafetensorsWriter writer, string name, Nf4Weight q, string dtype)
    {
        writer.Add(name, "U8", [q.Packed.Length, 1], q.Packed);
        long absmax;
        var levels = Floats(Nf4Matrix.Levels.ToArray());
        writer.Add(name + BitsandbytesLayout.QuantMap, "F32", [16], levels);
        long constants = levels.Length;
        if (q.DoubleQuantized)
        {
            writer.Add(name + BitsandbytesLayout.Absmax, "U8", [q.AbsmaxCodes!.Length], q.AbsmaxCodes);
            var scales = Floats(q.AbsmaxScales!);
            writer.Add(name + BitsandbytesLayout.NestedAbsmax, "F32", [q.AbsmaxScales!.Length], scales);
            var map = Floats(DynamicMap.Signed.ToArray());
            writer.Add(name + BitsandbytesLayout.NestedQuantMap, "F32", [256], map);
            absmax = q.AbsmaxCodes.Length + scales.Length;
            constants += map.Length;
        }
        else
        {
            var a = Floats(q.Absmax!);
            writer.Add(name + BitsandbytesLayout.Absmax, "F32", [q.Absmax!.Length], a);
            absmax = a.Length;
        }
        var state = BitsandbytesLayout.QuantStateJson(q, dtype);
        writer.Add(name + BitsandbytesLayout.QuantState, "U8", [state.Length], state);
        constants += state.Length;
        return (q.Packed.Length, absmax, constants);
    }

    private static byte[] Floats(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
