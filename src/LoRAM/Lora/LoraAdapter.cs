using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;

namespace LoRAM.Lora;

/// <summary>
/// The LoRA adapters of one model: attached into its projection slots (PEFT's module replacement), trained,
/// saved and loaded in PEFT's format, merged into the base weights (W0 + s·B·A), or detached again.
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    private readonly LlamaModel _model;
    private readonly List<(string Path, LoraLayer Layer)> _layers;
    private bool _detached;

    private LoraAdapter(LlamaModel model, LoraSettings settings, List<(string, LoraLayer)> layers)
    {
        _model = model;
        Settings = settings;
        _layers = layers;
    }

    public LoraSettings Settings { get; }
    public IReadOnlyList<(string Path, LoraLayer Layer)> Layers => _layers;
    public IEnumerable<Var> Parameters() => _layers.SelectMany(l => l.Layer.Parameters);
    public long ParameterCount => _layers.Sum(l => l.Layer.A.Value.Length + l.Layer.B.Value.Length);

    /// <summary>
    /// Attaches fresh adapters to every targeted projection: A ~ Kaiming-uniform with a = √5 (PEFT's default, i.e.
    /// U(−1/√in, 1/√in)), B = 0, so the adapted model starts equal to the base model. <paramref name="maskOf"/> gives the
    /// mask of a non-structurally pruned projection by module path (null: unmasked).
    /// </summary>
    public static LoraAdapter Attach(LlamaModel model, LoraSettings settings, int seed = 0, Func<string, Tensor?>? maskOf = null)
    {
        settings.Validate();
        var rng = new Random(seed);
        return AttachWith(model, settings, (path, layer) =>
        {
            int inF = layer.InFeatures, outF = layer.OutFeatures, r = settings.RankFor(path);
            float bound = 1f / MathF.Sqrt(inF);
            var a = new float[r * inF];
            for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * bound;
            return (Tensor.FromArray(model.Backend, a, r, inF), Tensor.Zeros(model.Backend, outF, r), maskOf?.Invoke(path));
        });
    }

    /// <summary>Loads a PEFT adapter folder onto <paramref name="model"/>, checking every name and shape against it.</summary>
    public static LoraAdapter Load(string folder, LlamaModel model, Func<string, Tensor?>? maskOf = null)
    {
        // An adapter recovered with --recover masked carries its masks: (B·A) ⊙ M is applied, not B·A.
        maskOf ??= PruningMasks.Load(folder, model.Backend);
        var settings = PeftAdapterFormat.ReadConfig(Path.Combine(folder, PeftAdapterFormat.ConfigFile));
        var weightsPath = Path.Combine(folder, PeftAdapterFormat.WeightsFile);
        if (!File.Exists(weightsPath)) throw new UserInputException($"{weightsPath}: no such file (an adapter folder needs {PeftAdapterFormat.WeightsFile})");
        SafetensorsFile file;
        try { file = SafetensorsFile.Open(weightsPath); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
        using (file)
        {
            var paths = model.Projections().ToDictionary(p => p.Path, p => p.Layer);
            var found = new Dictionary<string, (string? A, string? B)>();
            foreach (var e in file.Entries)
            {
                var parsed = PeftAdapterFormat.ParseTensorName(e.Name)
                    ?? throw new UserInputException($"{weightsPath}: tensor '{e.Name}' is not a LoRA matrix (expected base_model.model.<module>.lora_A/B.weight)");
                if (!paths.ContainsKey(parsed.Path))
                    throw new UserInputException($"{weightsPath}: tensor '{e.Name}' adapts '{parsed.Path}', which this model does not have");
                if (!settings.Targets(parsed.Path))
                {
                    // A tensor the config leaves out would be silently dropped: the adapter would not be the one trained.
                    string module = parsed.Path[(parsed.Path.LastIndexOf('.') + 1)..];
                    string config = Path.Combine(folder, PeftAdapterFormat.ConfigFile);
                    throw new UserInputException(settings.TargetModules.Contains(module)
                        ? $"{config}: layers_to_transform leaves out '{parsed.Path}' of tensor '{e.Name}'"
                        : $"{config}: target_modules [{string.Join(", ", settings.TargetModules)}] lacks '{module}' of tensor '{e.Name}'");
                }
                var (a, b) = found.GetValueOrDefault(parsed.Path);
                found[parsed.Path] = parsed.Matrix == 'A' ? (e.Name, b) : (a, e.Name);
            }
            if (found.Count == 0) throw new UserInputException($"{weightsPath}: no LoRA tensors");
            foreach (var (path, (a, b)) in found)
                if (a is null || b is null) throw new UserInputException($"{weightsPath}: '{path}' has lora_{(a is null ? 'A' : 'B')} missing");

            return AttachWith(model, settings, (path, layer) =>
            {
                if (!found.TryGetValue(path, out var names)) return null;
                var ea = file[names.A!];
                var eb = file[names.B!];
                int r = settings.RankFor(path);
                if (!ea.Shape.SequenceEqual([r, layer.InFeatures]) || !eb.Shape.SequenceEqual([layer.OutFeatures, r]))
                    throw new UserInputException($"{weightsPath}: '{path}' has lora_A [{string.Join(", ", ea.Shape)}] and lora_B [{string.Join(", ", eb.Shape)}], but the model's layer needs [{r}, {layer.InFeatures}] and [{layer.OutFeatures}, {r}] (r = {r})");
                try { file.RequireFinite(ea.Name); file.RequireFinite(eb.Name); }
                catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
                return (file.Load(model.Backend, ea.Name, DType.F32).Clone(), file.Load(model.Backend, eb.Name, DType.F32).Clone(), maskOf?.Invoke(path));
            }, requireAll: false);
        }
    }

    /// <summary>Wraps each targeted projection; <paramref name="make"/> returns A, B (and a mask), or null to skip a module.</summary>
    private static LoraAdapter AttachWith(LlamaModel model, LoraSettings settings,
        Func<string, FrozenLinear, (Tensor A, Tensor B, Tensor? Mask)?> make, bool requireAll = true)
    {
        var layers = new List<(string, LoraLayer)>();
        try
        {
            foreach (var (path, layer) in model.Projections().ToList())
            {
                if (!settings.Targets(path)) continue;
                if (layer is not FrozenLinear frozen)
                    throw new InvalidOperationException($"{path} is a {layer.GetType().Name}; LoRA attaches to frozen projections only (load the model without Trainable, and attach one adapter at a time)");
                if (make(path, frozen) is not var (a, b, mask)) continue;
                var lora = new LoraLayer(frozen, Var.Parameter(a, PeftAdapterFormat.TensorName(path, 'A')),
                    Var.Parameter(b, PeftAdapterFormat.TensorName(path, 'B')), settings.ScalingFor(path), settings.Dropout, mask);
                Install(model, path, lora);
                layers.Add((path, lora));
            }
        }
        catch
        {
            foreach (var (path, lora) in layers) { Install(model, path, lora.Base); lora.DisposeAdapter(); }
            throw;
        }
        if (requireAll && layers.Count == 0) throw new InvalidOperationException($"no projection of the model matches the target modules {string.Join(", ", settings.TargetModules)}");
        return new LoraAdapter(model, settings, layers);
    }

    private static void Install(LlamaModel model, string path, LinearLayer layer)
    {
        if (path == "lm_head") { model.LmHead = layer; return; }
        int index = int.Parse(path.Split('.')[2]);
        model.Layers[index][Projection.Parse(path[(path.LastIndexOf('.') + 1)..])] = layer;
    }

    /// <summary>Gives every layer its dropout seed for a training step (distinct per layer, reproducible per step).</summary>
    public void SetDropoutSeed(long step)
    {
        for (int i = 0; i < _layers.Count; i++)
            _layers[i].Layer.DropoutSeed = unchecked((ulong)step * 0x9E3779B97F4A7C15UL + (ulong)i * 0xBF58476D1CE4E5B9UL + 1);
    }

    /// <summary>Writes the PEFT folder (adapter_config.json + adapter_model.safetensors), each file atomically.</summary>
    public void Save(string folder, string? baseModel = null)
    {
        Directory.CreateDirectory(folder);
        var writer = new SafetensorsWriter();
        writer.Metadata["format"] = "pt";
        foreach (var (path, layer) in _layers)
        {
            writer.Add(PeftAdapterFormat.TensorName(path, 'A'), layer.A.Value);
            writer.Add(PeftAdapterFormat.TensorName(path, 'B'), layer.B.Value);
        }
        writer.Save(Path.Combine(folder, PeftAdapterFormat.WeightsFile));
        AtomicFile.WriteAllText(Path.Combine(folder, PeftAdapterFormat.ConfigFile), PeftAdapterFormat.ConfigJson(Settings, baseModel));
    }

    /// <summary>
    /// Folds each adapter into its base weight, W = W0 + s·B·A (computed in float32, stored back in W0's dtype), and
    /// puts plain frozen projections back into the model. The base weights must be dense (F32/BF16/F16).
    /// </summary>
    public void MergeAndDetach()
    {
        ThrowIfDetached();
        var be = _model.Backend;
        foreach (var (path, layer) in _layers)
        {
            if (layer.Base.Weight is not DenseFrozenWeight dense)
                throw new InvalidOperationException($"{path}: cannot merge into a {layer.Base.Weight.GetType().Name} weight; merge into the original dense model");
            using var w = dense.Weight.DType == DType.F32 ? dense.Weight.Clone() : dense.Weight.Cast(DType.F32);
            if (layer.Mask is null) be.Gemm(layer.B.Value, false, layer.A.Value, false, w, layer.Scaling, 1f);
            else
            {
                using var delta = Tensor.Empty(be, layer.OutFeatures, layer.InFeatures);
                be.Gemm(layer.B.Value, false, layer.A.Value, false, delta, layer.Scaling);
                be.Mul(delta, layer.Mask, delta);
                be.Add(w, delta, w);
            }
            var merged = new FrozenLinear(layer.Base.Name, new DenseFrozenWeight(dense.Weight.DType == DType.F32 ? w.Clone() : w.Cast(dense.Weight.DType)));
            Install(_model, path, merged);
            layer.Dispose();
        }
        _detached = true;
    }

    /// <summary>Puts the base projections back and frees the adapters.</summary>
    public void Detach()
    {
        if (_detached) return;
        foreach (var (path, layer) in _layers)
        {
            Install(_model, path, layer.Base);
            layer.DisposeAdapter();
        }
        _detached = true;
    }

    private void ThrowIfDetached()
    {
        if (_detached) throw new InvalidOperationException("the adapter was detached or merged");
    }

    public void Dispose() => Detach();
}
