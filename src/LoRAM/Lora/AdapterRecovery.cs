using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using LoRAM.Llama;
using LoRAM.Llama.Safetensors;
using LoRAM.Pruning;

namespace LoRAM.Lora;

/// <summary>What <c>loram recover</c> is told: the adapter, the pruned model it was trained on, the original model.</summary>
public sealed record RecoveryOptions
{
    /// <summary>The pruned model folder the adapter was trained on (holds loram_pruning.json).</summary>
    public required string PrunedModel { get; init; }
    /// <summary>The adapter trained on the pruned model (PEFT folder).</summary>
    public required string Adapter { get; init; }
    /// <summary>The original (unpruned) model folder the adapter is recovered for.</summary>
    public required string OriginalModel { get; init; }
    /// <summary>Folder for the recovered PEFT adapter (must be missing or empty).</summary>
    public required string Out { get; init; }
    /// <summary>Non-structured pruning: keep (B·A) ⊙ M by shipping the masks, instead of the paper's unmasked B·A.</summary>
    public bool Masked { get; init; }
    /// <summary>The pruned columns of A^R: zeros (the paper) or N(0, 1/r²) (the official script's normA).</summary>
    public RecoveredA FillA { get; init; } = RecoveredA.Zero;
    /// <summary>Seed of the normA draws.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Checks the options before any work; throws <see cref="UserInputException"/> naming the flag.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(PrunedModel)) throw new UserInputException("--pruned must name the pruned model folder");
        if (string.IsNullOrWhiteSpace(Adapter)) throw new UserInputException("--adapter must name an adapter folder");
        if (string.IsNullOrWhiteSpace(OriginalModel)) throw new UserInputException("--model must name the original model folder");
        if (string.IsNullOrWhiteSpace(Out)) throw new UserInputException("--out must name a folder");
    }
}

/// <summary>What recovery puts in the columns of A^R that pruning removed (o_proj's pruned heads, down_proj's pruned
/// channels). The paper, and the official script's default (<c>zeroA</c>), leaves zeros, so pruned units get no update;
/// the official script's <c>normA</c> draws them from N(0, 1/r²) instead, so B^R·A^R also updates the weights that read the
/// pruned units' outputs.</summary>
public enum RecoveredA { Zero, Normal }

/// <summary>What recovery did.</summary>
public sealed record RecoveryReport(string OutFolder, int Modules, long PrunedAdapterParameters, long RecoveredAdapterParameters, bool Masked);

/// <summary>
/// Recovery R(·) (paper Eq. 5–6): the LoRA matrices trained on the pruned model are brought back to the original
/// model's shapes. For structured pruning the pruned weight W0^P keeps rows I (heads, channels) and columns J of
/// W0, so B^P's rows go to rows I of B^R and A^P's columns to columns J of A^R, zeros elsewhere:
///   B^R[I, :] = B^P,  A^R[:, J] = A^P  ⇒  (B^R A^R)[I, J] = B^P A^P and 0 outside.
/// Pruned units thus get no update, and the adapter is a PEFT adapter of the ORIGINAL model. For non-structured
/// pruning the shapes already agree and the adapter is handed back as trained, i.e. B·A unmasked (paper C3);
/// <c>masked</c> keeps (B·A) ⊙ M instead by shipping the masks with the adapter (our extension, for comparison).
/// </summary>
public static class AdapterRecovery
{
    /// <summary>LoRAM's recovery metadata, beside the PEFT files of a recovered adapter.</summary>
    public const string RecoveryFile = "loram_recovery.json";

    /// <summary>Recovers <see cref="RecoveryOptions.Adapter"/> into <see cref="RecoveryOptions.Out"/>, which appears whole or not at all.</summary>
    public static RecoveryReport Run(RecoveryOptions o, Progress.IProgressReporter? progress = null)
    {
        o.Validate();
        if (Directory.Exists(o.Out) && Directory.EnumerateFileSystemEntries(o.Out).Any())
            throw new UserInputException($"{o.Out}: already exists and is not empty; choose another --out");
        var configPath = Path.Combine(o.OriginalModel, ModelFolder.Config);
        if (!File.Exists(configPath)) throw new UserInputException($"{o.OriginalModel}: not a model folder (no config.json)");
        var original = LlamaConfig.Load(configPath);
        var full = Path.GetFullPath(o.Out);
        using var outputLock = OutputLock.Beside(full);
        return AtomicFolder.Write(full, tmp => Recover(o.Adapter, o.PrunedModel, original, tmp, Path.GetFullPath(o.OriginalModel), o.Masked, o.FillA, o.Seed) with { OutFolder = full },
            progress is null ? null : progress.Line);
    }

    public static RecoveryReport Recover(string prunedAdapter, string prunedModel, LlamaConfig original, string outFolder,
        string? originalModelName = null, bool masked = false, RecoveredA fillA = RecoveredA.Zero, int seed = 1)
    {
        var record = PruningRecord.LoadFor(prunedModel);
        var settings = PeftAdapterFormat.ReadConfig(Path.Combine(prunedAdapter, PeftAdapterFormat.ConfigFile));
        if (original.NumHiddenLayers != record.NumHiddenLayers || original.HiddenSize != record.HiddenSize || original.VocabSize != record.VocabSize)
            throw new UserInputException($"{prunedModel}: the pruning record describes a model of {record.NumHiddenLayers} layers, d = {record.HiddenSize}, vocab {record.VocabSize}, not the original given ({original.NumHiddenLayers}, {original.HiddenSize}, {original.VocabSize})");
        for (int l = 0; l < original.NumHiddenLayers; l++)
        {
            var lr = record.Layers[l];
            if (lr.OriginalHeads != original.HeadsAt(l) || lr.OriginalKvHeads != original.KvHeadsAt(l) || lr.OriginalIntermediate != original.IntermediateAt(l))
                throw new UserInputException($"{prunedModel}: layer {l} was pruned from {lr.OriginalHeads} heads / {lr.OriginalKvHeads} kv heads / {lr.OriginalIntermediate} channels, but the original model has {original.HeadsAt(l)} / {original.KvHeadsAt(l)} / {original.IntermediateAt(l)}");
        }
        if (masked && record.IsStructured) throw new UserInputException("--recover masked applies to non-structured pruning only; structured recovery is exact");

        var weightsPath = Path.Combine(prunedAdapter, PeftAdapterFormat.WeightsFile);
        SafetensorsFile file;
        try { file = SafetensorsFile.Open(weightsPath); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        var writer = new SafetensorsWriter();
        writer.Metadata["format"] = "pt";
        int modules = 0;
        long before = 0, after = 0;
        using (file)
        {
            foreach (var e in file.Entries)
            {
                var parsed = PeftAdapterFormat.ParseTensorName(e.Name)
                    ?? throw new UserInputException($"{weightsPath}: tensor '{e.Name}' is not a LoRA matrix");
                var (rows, cols, outOriginal, inOriginal) = Maps(record, original, parsed.Path, weightsPath);
                int r = settings.RankFor(parsed.Path);
                float[] values = Read(file, e, weightsPath);
                before += values.Length;
                float[] recovered;
                int[] shape;
                if (parsed.Matrix == 'A')
                {
                    // A^P [r, |J|] → A^R [r, in]: column j of A^P goes to column J[j].
                    if (!e.Shape.SequenceEqual([r, cols.Length])) throw ShapeError(weightsPath, e, [r, cols.Length]);
                    recovered = new float[r * inOriginal];
                    if (fillA == RecoveredA.Normal && cols.Length < inOriginal)
                        Training.LlamaInitializer.FillNormal(recovered, 1.0 / r, Data.Rng.For(seed, "recover/" + e.Name));   // kept columns overwritten below
                    for (int k = 0; k < r; k++)
                        for (int j = 0; j < cols.Length; j++) recovered[k * inOriginal + cols[j]] = values[k * cols.Length + j];
                    shape = [r, inOriginal];
                    modules++;
                }
                else
                {
                    // B^P [|I|, r] → B^R [out, r]: row i of B^P goes to row I[i].
                    if (!e.Shape.SequenceEqual([rows.Length, r])) throw ShapeError(weightsPath, e, [rows.Length, r]);
                    recovered = new float[outOriginal * r];
                    for (int i = 0; i < rows.Length; i++) Array.Copy(values, i * r, recovered, rows[i] * r, r);
                    shape = [outOriginal, r];
                }
                after += recovered.Length;
                writer.Add(e.Name, "F32", shape, MemoryMarshal.AsBytes(recovered.AsSpan()).ToArray());
            }
        }

        Directory.CreateDirectory(outFolder);
        writer.Save(Path.Combine(outFolder, PeftAdapterFormat.WeightsFile));
        if (masked) AtomicFile.Copy(Path.Combine(prunedModel, MaskFile.FileName), Path.Combine(outFolder, MaskFile.FileName));
        // adapter_config.json stays PEFT's own (PEFT rejects keys LoraConfig lacks); how it was recovered goes beside it.
        AtomicFile.WriteAllText(Path.Combine(outFolder, PeftAdapterFormat.ConfigFile), PeftAdapterFormat.ConfigJson(settings, originalModelName));
        AtomicFile.WriteAllText(Path.Combine(outFolder, RecoveryFile), new JsonObject
        {
            ["recovered_from"] = Path.GetFullPath(prunedModel),
            ["pruning_method"] = record.Method.ToString(),
            ["pruning_ratio"] = record.Ratio,
            ["recovery"] = masked ? "masked" : record.IsStructured ? "scatter" : "unmasked",
        }.ToJsonString(new() { WriteIndented = true }));
        return new RecoveryReport(Path.GetFullPath(outFolder), modules, before, after, masked);
    }

    /// <summary>Kept rows I and columns J (original indices) of a module, and its original shape.</summary>
    private static (int[] Rows, int[] Cols, int Out, int In) Maps(PruningRecord record, LlamaConfig original, string path, string source)
    {
        if (path == "lm_head")
        {
            var all = Enumerable.Range(0, original.HiddenSize).ToArray();
            return (Enumerable.Range(0, original.VocabSize).ToArray(), all, original.VocabSize, original.HiddenSize);
        }
        var parts = path.Split('.');
        if (parts.Length != 5 || parts[0] != "model" || parts[1] != "layers" || !int.TryParse(parts[2], out int layer) || layer < 0 || layer >= original.NumHiddenLayers)
            throw new UserInputException($"{source}: '{path}' is not a projection of a {original.NumHiddenLayers}-layer LLaMA");
        var module = Projection.Find(parts[4]);
        if (module is null || parts[3] != module.Block) throw new UserInputException($"{source}: '{path}' is not a LLaMA projection");
        var (outF, inF) = module.Shape(original, layer);
        return (record.KeptRows(layer, module), record.KeptColumns(layer, module), outF, inF);
    }

    private static float[] Read(SafetensorsFile file, SafetensorsEntry e, string source)
    {
        if (e.DTypeName != "F32") throw new UserInputException($"{source}: tensor '{e.Name}' is {e.DTypeName}; adapters are recovered from F32 matrices");
        try { file.RequireFinite(e.Name); }
        catch (LlamaFormatException x) { throw new UserInputException(x.Message, x); }
        return MemoryMarshal.Cast<byte, float>(file.RawBytes(e.Name)).ToArray();
    }

    private static UserInputException ShapeError(string source, SafetensorsEntry e, int[] expected) =>
        new($"{source}: tensor '{e.Name}' is [{string.Join(", ", e.Shape)}] but the pruned model's layer implies [{string.Join(", ", expected)}]");
}
