using LoRAM.Autograd;
using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;

namespace LoRAM.Llama.Model;

/// <summary>
/// A LLaMA causal language model with Hugging Face's semantics and weight names (<c>LlamaForCausalLM</c>):
///   x = embed_tokens[ids];  x = layer_l(x) for l = 0..L−1;  logits = lm_head(norm(x)).
/// Written against autograd ops only, so it runs on every backend, trains (full or through swapped-in LoRA
/// projections) and decodes with a <see cref="KvCache"/>. Batches are right-padded: a causal mask alone keeps
/// every real token from seeing padding, and padded positions carry the ignore label in the loss.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    private readonly Dictionary<(int Batch, int Tokens), Tensor> _trainingPositions = new();
    private Tensor? _cos, _sin;

    private LlamaModel(LlamaConfig config, Backend backend, Var embedding, DecoderLayer[] layers, Var finalNorm, LinearLayer lmHead, bool checkpointLayers)
    {
        Config = config;
        Backend = backend;
        Embedding = embedding;
        Layers = layers;
        FinalNorm = finalNorm;
        LmHead = lmHead;
        CheckpointLayers = checkpointLayers;
    }

    public LlamaConfig Config { get; }
    public Backend Backend { get; }
    /// <summary>The token embedding table [V, d] (a frozen constant or a trainable parameter).</summary>
    public Var Embedding { get; }
    public IReadOnlyList<DecoderLayer> Layers { get; }
    public Var FinalNorm { get; }
    /// <summary>The output projection [V, d]; with tied embeddings it reads the embedding table itself.</summary>
    public LinearLayer LmHead { get; set; }
    /// <summary>Recompute each decoder layer in the backward pass (activation checkpointing).</summary>
    public bool CheckpointLayers { get; set; }
    /// <summary>Inference runs each layer's q/k/v and gate/up as one fused product (<see cref="DecoderLayer.FuseProjections"/>);
    /// setting it sets every layer.</summary>
    public bool FuseProjections
    {
        get => Layers.All(l => l.FuseProjections);
        set { foreach (var l in Layers) l.FuseProjections = value; }
    }

    // ==== building ================================================================================

    /// <summary>Loads a Hugging Face folder (config.json + single or sharded safetensors).</summary>
    public static LlamaModel Load(string folder, Backend backend, LlamaModelOptions? options = null)
    {
        string configPath = Path.Combine(folder, ModelFolder.Config);
        var config = LlamaConfig.Load(configPath);
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        options ??= new LlamaModelOptions();
        // Before anything is sized by the config: its layers and head must be the checkpoint's (ConfigAgreement).
        ConfigAgreement.CheckLayers(config, configPath, checkpoint, folder);
        ConfigAgreement.CheckHead(config, configPath, checkpoint, folder);
        var expected = LlamaTensorNames.Expected(config).ToDictionary(e => e.Name, e => e.Shape);
        return Build(config, backend, options,
            load: (name, dtype) =>
            {
                if (!checkpoint.Contains(name))
                    throw LlamaFormatException.In(folder, $"checkpoint has no tensor '{name}' (expected shape [{string.Join(", ", expected[name])}] from config.json)");
                var entry = checkpoint[name];
                var file = checkpoint.FileOf(name).Path;
                if (!entry.Shape.SequenceEqual(expected[name]))
                    throw ConfigAgreement.ShapeMismatch(config, configPath, file, name, entry.Shape, expected[name]);
                if (entry.DType is not (DType.F32 or DType.BF16 or DType.F16))
                    throw LlamaFormatException.In(file, $"tensor '{name}' has dtype {entry.DTypeName}; weights must be F32, BF16 or F16");
                // One pass over the mapped bytes, which the first forward reads anyway: ~0.6 ms warm for models/base's
                // 9 MB, 0.1% of load + a small eval (measured; see the commit), so done here, where the file is known.
                checkpoint.FileOf(name).RequireFinite(name);
                return checkpoint.Load(backend, name, dtype);
            },
            loadLinear: options.LinearLoader is { } loader ? name =>
            {
                var w = loader(checkpoint, name, backend);
                if (w is null) return null;
                // A specially stored projection (NF4) carries its own [out, in]: it must be the config's too.
                try { ConfigAgreement.CheckLinear(config, configPath, checkpoint.FileOf(name).Path, name, w.OutFeatures, w.InFeatures, expected[name]); }
                catch { w.Dispose(); throw; }
                return w;
            } : null);
    }

    /// <summary>Builds a model over in-memory weights (e.g. a freshly pruned or initialised model); the weights stay
    /// owned by <paramref name="weights"/>, the model holds its own views or copies.</summary>
    public static LlamaModel FromWeights(LlamaWeights weights, Backend backend, LlamaModelOptions? options = null) =>
        Build(weights.Config, backend, options ?? new LlamaModelOptions(), (name, dtype) =>
        {
            var t = weights[name];
            if (t.Backend != backend) t = t.To(backend);
            else t = t.Reshape(t.ShapeArray());
            if (dtype is not DType want || want == t.DType) return t;
            using (t) return t.Cast(want);
        }, loadLinear: null);

    /// <summary>
    /// The assembly shared by every source: <paramref name="load"/> returns a tensor the model owns (in the requested
    /// dtype, or as stored when null). Trainable weights are copied, never borrowed: a memory-mapped checkpoint is
    /// read-only, and the optimizer writes parameters in place.
    /// </summary>
    private static LlamaModel Build(LlamaConfig config, Backend backend, LlamaModelOptions options,
        Func<string, DType?, Tensor> load, Func<string, FrozenWeight?>? loadLinear)
    {
        var owned = new List<IDisposable>();
        bool Trains(string name) => options.Trainable && (options.TrainedWeights?.Invoke(name) ?? true);
        try
        {
            Var Trainable(string name)
            {
                using var t = load(name, DType.F32);
                var v = Var.Parameter(t.Clone(), name);
                owned.Add(v);
                return v;
            }
            Var Norm(string name)
            {
                if (Trains(name)) return Trainable(name);
                var v = Var.Constant(load(name, DType.F32), name);
                owned.Add(v);
                return v;
            }
            LinearLayer Linear(string name)
            {
                LinearLayer layer;
                if (Trains(name)) layer = new TrainableLinear(name, Trainable(name));
                else if (loadLinear?.Invoke(name) is { } special) layer = new FrozenLinear(name, special);
                else layer = new FrozenLinear(name, new DenseFrozenWeight(load(name, options.FrozenDType)));
                owned.Add(layer);
                return layer;
            }

            Var embedding;
            if (Trains(LlamaTensorNames.Embedding)) embedding = Trainable(LlamaTensorNames.Embedding);
            else
            {
                embedding = Var.Constant(load(LlamaTensorNames.Embedding, options.FrozenDType), LlamaTensorNames.Embedding);
                owned.Add(embedding);
            }

            float eps = (float)config.RmsNormEps;
            var layers = new DecoderLayer[config.NumHiddenLayers];
            for (int l = 0; l < layers.Length; l++)
            {
                layers[l] = new DecoderLayer(l, config.HeadsAt(l), config.KvHeadsAt(l), config.HeadDim, eps,
                    Norm(LlamaTensorNames.InputNorm(l)),
                    Linear(LlamaTensorNames.Q(l)), Linear(LlamaTensorNames.K(l)), Linear(LlamaTensorNames.V(l)), Linear(LlamaTensorNames.O(l)),
                    Norm(LlamaTensorNames.PostAttentionNorm(l)),
                    Linear(LlamaTensorNames.Gate(l)), Linear(LlamaTensorNames.Up(l)), Linear(LlamaTensorNames.Down(l)));
            }
            var finalNorm = Norm(LlamaTensorNames.FinalNorm);

            LinearLayer lmHead;
            if (!config.TieWordEmbeddings) lmHead = Linear(LlamaTensorNames.LmHead);
            else if (embedding.RequiresGrad) lmHead = new TrainableLinear(LlamaTensorNames.LmHead, embedding, ownsWeight: false);
            else lmHead = new FrozenLinear(LlamaTensorNames.LmHead, new DenseFrozenWeight(embedding.Value.Reshape(embedding.Value.ShapeArray())));

            return new LlamaModel(config, backend, embedding, layers, finalNorm, lmHead, options.CheckpointLayers);
        }
        catch
        {
            foreach (var d in owned) d.Dispose();
            throw;
        }
    }

    // ==== forward =================================================================================

    /// <summary>
    /// Logits [B, T, V] for token ids I32 [B, T] at positions 0..T−1, or, with a <paramref name="cache"/> (B = 1,
    /// inside <c>tape.NoGrad()</c>), at positions cache.Length.. — appending to the cache. With
    /// <paramref name="lastPositionOnly"/> (inference) only the last position's logits [B, 1, V] are computed,
    /// which is all generation needs and skips most of the LM head's work.
    /// </summary>
    public Var Forward(Tape tape, Tensor tokens, KvCache? cache = null, bool lastPositionOnly = false)
    {
        if (tokens.Rank != 2 || tokens.DType != DType.I32) throw new ArgumentException($"tokens must be I32 [batch, length], not {tokens}");
        int b = tokens.Dim(0), t = tokens.Dim(1), start = cache?.Length ?? 0;
        var (cos, sin) = RopeTablesFor(start + t);
        var positions = PositionsFor(tape, b, t, start);
        try
        {
            var rope = new RopeContext(cos, sin, positions);
            float eps = (float)Config.RmsNormEps;
            if (tape.GradEnabled)
            {
                if (lastPositionOnly) throw new InvalidOperationException("lastPositionOnly is for inference: run it inside tape.NoGrad()");
                if (cache is not null) throw new InvalidOperationException("KV-cache decoding is for inference: run it inside tape.NoGrad()");
                return LmHead.Forward(tape, FinalHidden(tape, tokens, rope));
            }

            // Inference: each layer runs on a private tape that is released as soon as its output exists, so only
            // one layer's intermediates are ever alive (a no-grad tape would otherwise keep all of them to the end).
            var hidden = InferenceStep(tape, tp => tp.Embedding(Embedding, tokens));
            foreach (var layer in Layers)
            {
                using var input = Var.Constant(hidden);
                hidden = InferenceStep(tape, tp => layer.Forward(tp, input, rope, cache));
            }
            cache?.Advance(t);
            if (lastPositionOnly && t > 1)
            {
                var last = Tensor.Empty(Backend, b, 1, Config.HiddenSize);
                for (int i = 0; i < b; i++)
                    using (var src = hidden.View(((long)i * t + t - 1) * Config.HiddenSize, 1, 1, Config.HiddenSize))
                    using (var dst = last.View((long)i * Config.HiddenSize, 1, 1, Config.HiddenSize))
                        Backend.Copy(src, dst);
                hidden.Dispose();
                hidden = last;
            }
            using var final = Var.Constant(hidden);
            return LmHead.Forward(tape, tape.RmsNorm(final, FinalNorm, eps));
        }
        finally
        {
            // Training positions are cached for the backward pass (RoPE's backward reads them); inference ones are not.
            if (!ReferenceEquals(positions, _trainingPositions.GetValueOrDefault((b, t)))) positions.Dispose();
        }
    }

    /// <summary>
    /// Training's final hidden states norm(x_L) [B, T, d], the LM head's input, for a caller that applies the head
    /// itself (piece by piece over the tokens, so [B·T, V] logits never exist at once). Tokens I32 [B, T] at positions 0..T−1.
    /// </summary>
    public Var FinalHidden(Tape tape, Tensor tokens)
    {
        if (!tape.GradEnabled) throw new InvalidOperationException("FinalHidden is for training; inference runs Forward inside tape.NoGrad()");
        if (tokens.Rank != 2 || tokens.DType != DType.I32) throw new ArgumentException($"tokens must be I32 [batch, length], not {tokens}");
        var (cos, sin) = RopeTablesFor(tokens.Dim(1));
        return FinalHidden(tape, tokens, new RopeContext(cos, sin, PositionsFor(tape, tokens.Dim(0), tokens.Dim(1), 0)));
    }

    private Var FinalHidden(Tape tape, Tensor tokens, RopeContext rope)
    {
        var x = tape.Embedding(Embedding, tokens);
        foreach (var layer in Layers)
            x = Checkpoint.Run(tape, (tp, h) => layer.Forward(tp, h, rope), x, CheckpointLayers);
        return tape.RmsNorm(x, FinalNorm, (float)Config.RmsNormEps);
    }

    /// <summary>Runs <paramref name="step"/> on a private no-grad tape and returns (a view of) its output, outliving the tape.</summary>
    private Tensor InferenceStep(Tape outer, Func<Tape, Var> step)
    {
        using var tape = new Tape(Backend, outer.Profiler);
        using var _ = tape.NoGrad();
        var y = step(tape);
        return y.Value.Reshape(y.Value.ShapeArray());
    }

    /// <summary>I32 positions [B·T]: start..start+T−1 for every sequence of the batch.</summary>
    private Tensor PositionsFor(Tape tape, int b, int t, int start)
    {
        if (tape.GradEnabled && start == 0 && _trainingPositions.TryGetValue((b, t), out var cached)) return cached;
        var host = new int[b * t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) host[i * t + j] = start + j;
        var positions = Tensor.FromArray(Backend, host, b * t);
        if (tape.GradEnabled && start == 0) _trainingPositions[(b, t)] = positions;
        return positions;
    }

    /// <summary>RoPE tables covering at least <paramref name="positions"/> positions, grown by doubling (a 128k-context
    /// config would otherwise allocate its full tables up front).</summary>
    private (Tensor Cos, Tensor Sin) RopeTablesFor(int positions)
    {
        if (_cos is null || _cos.Dim(0) < positions)
        {
            int n = Math.Max(positions, Math.Min(Config.MaxPositionEmbeddings, Math.Max(256, (_cos?.Dim(0) ?? 0) * 2)));
            _cos?.Dispose();
            _sin?.Dispose();
            (_cos, _sin) = RopeTables.Create(Backend, Config, n);
        }
        return (_cos, _sin!);
    }

    // ==== parameters, memory, saving ==============================================================

    /// <summary>Every trainable parameter (full training, or LoRA matrices swapped into the projections), once each.</summary>
    public IEnumerable<Var> Parameters()
    {
        var seen = new HashSet<Var>(ReferenceEqualityComparer.Instance);
        IEnumerable<Var> All()
        {
            yield return Embedding;
            foreach (var l in Layers)
            {
                yield return l.InputNorm;
                yield return l.PostAttentionNorm;
                foreach (var (_, p) in l.Projections)
                    foreach (var v in p.Parameters) yield return v;
            }
            yield return FinalNorm;
            foreach (var v in LmHead.Parameters) yield return v;
        }
        foreach (var v in All())
            if (v.RequiresGrad && seen.Add(v)) yield return v;
    }

    /// <summary>Every projection of the model with its PEFT module path (e.g. <c>model.layers.3.self_attn.q_proj</c>, <c>lm_head</c>).</summary>
    public IEnumerable<(string Path, LinearLayer Layer)> Projections()
    {
        foreach (var l in Layers)
            foreach (var (projection, layer) in l.Projections)
                yield return (projection.Path(l.Index), layer);
        yield return ("lm_head", LmHead);
    }

    /// <summary>Registers frozen weights (by dtype) and trainable parameters with <paramref name="ledger"/>.</summary>
    public void RegisterMemory(MemoryLedger ledger)
    {
        var frozen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var v in new[] { Embedding, FinalNorm }.Concat(Layers.SelectMany(l => new[] { l.InputNorm, l.PostAttentionNorm })))
            if (!v.RequiresGrad) ledger.AddFrozen(v.Value);
        foreach (var (_, p) in Projections())
            if (p.Frozen is { } w && !(Config.TieWordEmbeddings && ReferenceEquals(p, LmHead))) ledger.AddFrozen(w);
        ledger.AddParameters(Parameters());
    }

    /// <summary>Bytes of every weight of the base model in its stored form (tied LM head counted once).</summary>
    public long WeightBytes()
    {
        long bytes = Embedding.Value.Bytes + FinalNorm.Value.Bytes;
        foreach (var l in Layers) bytes += l.InputNorm.Value.Bytes + l.PostAttentionNorm.Value.Bytes;
        foreach (var (_, p) in Projections())
        {
            if (Config.TieWordEmbeddings && ReferenceEquals(p, LmHead)) continue;
            bytes += p.Frozen?.Bytes ?? p.DenseWeight?.Bytes ?? 0;
        }
        return bytes;
    }

    /// <summary>
    /// Writes the model as a Hugging Face folder (config.json + model.safetensors, sharded above
    /// <paramref name="maxShardBytes"/>), weights in their current dtypes (or <paramref name="dtype"/>, or per tensor
    /// <paramref name="dtypeOf"/>'s answer when it has one), atomically per file, one converted tensor in memory at a time.
    /// Projections must be dense (merge LoRA first; NF4 models are written by the quantizer).
    /// </summary>
    public void Save(string folder, DType? dtype = null, string? tokenizerFrom = null, long maxShardBytes = 5L << 30, Func<string, DType?>? dtypeOf = null)
    {
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal)
        {
            [LlamaTensorNames.Embedding] = Embedding.Value,
            [LlamaTensorNames.FinalNorm] = FinalNorm.Value,
        };
        foreach (var l in Layers)
        {
            byName[LlamaTensorNames.InputNorm(l.Index)] = l.InputNorm.Value;
            byName[LlamaTensorNames.PostAttentionNorm(l.Index)] = l.PostAttentionNorm.Value;
        }
        foreach (var (path, p) in Projections())
            byName[path + ".weight"] = p.DenseWeight ?? throw new InvalidOperationException($"{path} is not stored densely ({p.GetType().Name}); merge or dequantize it before saving");
        DType Stored(string name) => (dtypeOf?.Invoke(name) ?? dtype) ?? byName[name].DType;
        // One tensor at a time: a converted copy is written and freed before the next is made.
        LlamaWeights.SaveStreaming(folder, Config, Stored, name =>
        {
            var t = byName[name];
            return Stored(name) is var want && want != t.DType ? t.Cast(want) : t.Reshape(t.ShapeArray());
        }, tokenizerFrom, maxShardBytes);
    }

    public void Dispose()
    {
        foreach (var l in Layers) l.Dispose();
        LmHead.Dispose();
        Embedding.Dispose();
        FinalNorm.Dispose();
        foreach (var t in _trainingPositions.Values) t.Dispose();
        _trainingPositions.Clear();
        _cos?.Dispose();
        _sin?.Dispose();
    }
}
