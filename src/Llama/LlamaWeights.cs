using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;

namespace LoRAM.Llama;

/// <summary>
/// The frozen weights of a LLaMA model by their Hugging Face names (<see cref="LlamaTensorNames"/>), in the
/// dtype they were stored in (BF16 stays 2 bytes per parameter) unless a conversion was asked for. Loaded on the
/// CPU backend they are views of the memory-mapped checkpoint and are never written.
/// </summary>
public sealed class LlamaWeights : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    private LlamaWeights(LlamaConfig config, Dictionary<string, Tensor> tensors)
    {
        Config = config;
        _tensors = tensors;
    }

    public LlamaConfig Config { get; }

    public IReadOnlyDictionary<string, Tensor> Tensors => _tensors;

    public Tensor this[string name] =>
        _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"no weight named '{name}'");

    public Tensor Embedding => this[LlamaTensorNames.Embedding];

    /// <summary>The output projection: the embedding itself when <c>tie_word_embeddings</c> is set.</summary>
    public Tensor LmHead => Config.TieWordEmbeddings ? Embedding : this[LlamaTensorNames.LmHead];

    /// <summary>Takes ownership of <paramref name="tensors"/> after checking their names and shapes against <paramref name="config"/>.</summary>
    public static LlamaWeights FromTensors(LlamaConfig config, IReadOnlyDictionary<string, Tensor> tensors, string source = "weights")
    {
        var owned = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in LlamaTensorNames.Expected(config))
        {
            if (!tensors.TryGetValue(name, out var t)) throw LlamaFormatException.In(source, $"missing tensor '{name}' (expected shape [{string.Join(", ", shape)}] for this config)");
            CheckShape(source, name, t.ShapeArray(), shape);
            owned[name] = t;
        }
        return new LlamaWeights(config, owned);
    }

    private static void CheckShape(string source, string name, int[] actual, int[] expected)
    {
        if (!actual.SequenceEqual(expected))
            throw LlamaFormatException.In(source, $"tensor '{name}' has shape [{string.Join(", ", actual)}] but config.json implies [{string.Join(", ", expected)}]");
    }

    /// <summary>
    /// Loads <c>config.json</c> and the safetensors checkpoint of <paramref name="folder"/> (single or sharded).
    /// Tensors keep their stored dtype unless <paramref name="dtype"/> is given. The checkpoint must be the model the
    /// config describes (<see cref="ConfigAgreement"/>: no layers beyond num_hidden_layers, shapes as the config sizes
    /// them, a tied head only beside an lm_head.weight equal to the embedding); other extra tensors (rotary buffers)
    /// are ignored.
    /// </summary>
    public static LlamaWeights Load(string folder, Backend backend, DType? dtype = null)
    {
        string configPath = Path.Combine(folder, ModelFolder.Config);
        var config = LlamaConfig.Load(configPath);
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        ConfigAgreement.CheckLayers(config, configPath, checkpoint, folder);
        ConfigAgreement.CheckHead(config, configPath, checkpoint, folder);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, shape) in LlamaTensorNames.Expected(config))
            {
                if (!checkpoint.Contains(name))
                    throw LlamaFormatException.In(folder, $"checkpoint has no tensor '{name}' (expected shape [{string.Join(", ", shape)}] from config.json)");
                var entry = checkpoint[name];
                if (!entry.Shape.SequenceEqual(shape))
                    throw ConfigAgreement.ShapeMismatch(config, configPath, checkpoint.FileOf(name).Path, name, entry.Shape, shape);
                if (entry.DType is not (DType.F32 or DType.BF16 or DType.F16))
                    throw LlamaFormatException.In(checkpoint.FileOf(name).Path, $"tensor '{name}' has dtype {entry.DTypeName}; weights must be F32, BF16 or F16");
                checkpoint.FileOf(name).RequireFinite(name);
                tensors[name] = checkpoint.Load(backend, name, dtype);
            }
            return new LlamaWeights(config, tensors);
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes a Hugging Face folder: <c>config.json</c> and <c>model.safetensors</c> (sharded above
    /// <paramref name="maxShardBytes"/>), plus the tokenizer files of <paramref name="tokenizerFrom"/> when given.
    /// </summary>
    public void Save(string folder, string? tokenizerFrom = null, long maxShardBytes = 5L << 30)
    {
        SaveStreaming(folder, Config, name => _tensors[name].DType, name => _tensors[name].Reshape(_tensors[name].ShapeArray()), tokenizerFrom, maxShardBytes);
    }

    /// <summary>
    /// Writes a Hugging Face folder as <see cref="Save"/> does, one tensor at a time: <paramref name="make"/> builds each
    /// tensor of <paramref name="config"/> when its turn in the file comes (in the dtype <paramref name="dtypeOf"/>
    /// announced for the header), its bytes are written and it is disposed, so no more than one tensor of the model is
    /// ever held (structured pruning writes W0^P this way). Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> SaveStreaming(string folder, LlamaConfig config, Func<string, DType> dtypeOf, Func<string, Tensor> make,
        string? tokenizerFrom = null, long maxShardBytes = 5L << 30)
    {
        Directory.CreateDirectory(folder);
        var entries = LlamaTensorNames.Expected(config).Select(e => new SafetensorsStreamWriter.Entry(e.Name, dtypeOf(e.Name), e.Shape)).ToList();
        var shards = SafetensorsStreamWriter.PlanShards(entries, maxShardBytes);
        var meta = new Dictionary<string, string> { ["format"] = "pt" };
        var files = new List<string>();
        byte[]? buffer = null;
        foreach (var (file, shardEntries) in shards)
        {
            using var writer = SafetensorsStreamWriter.Create(Path.Combine(folder, file), shardEntries, meta);
            foreach (var e in writer.Entries)
            {
                using var t = make(e.Name);
                writer.Append(e.Name, t, ref buffer);
            }
            writer.Commit();
            files.Add(file);
        }
        string index = Path.Combine(folder, "model.safetensors.index.json");
        if (shards.Count > 1) files.Add(SafetensorsStreamWriter.WriteIndex(folder, shards));
        else if (File.Exists(index)) File.Delete(index);   // a stale index would shadow the single file
        config.Save(Path.Combine(folder, ModelFolder.Config));
        files.Add(ModelFolder.Config);
        if (tokenizerFrom is not null) ModelFolder.CopyTokenizerFiles(tokenizerFrom, folder);
        return files;
    }

    /// <summary>Bytes the weights occupy in their dtypes.</summary>
    public long Bytes => _tensors.Values.Sum(t => t.Bytes);

    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}
