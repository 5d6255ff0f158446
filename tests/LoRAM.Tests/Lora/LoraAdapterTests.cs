using System.Text.Json;
using LoRAM.Autograd;
using LoRAM.Autograd.Optim;
using LoRAM.Llama.Model;
using LoRAM.Lora;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Lora;

public sealed class LoraAdapterTests : IDisposable
{
    private static readonly int[] Tokens = [256, 84, 104, 101, 32, 99, 97, 116, 32, 115, 97, 116, 46, 10];
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-lora-").FullName;
    private readonly CpuBackend _cpu = new(1);

    public void Dispose()
    {
        _cpu.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string Model(DType dtype = DType.BF16, bool tied = false)
    {
        var folder = Path.Combine(_dir, $"model-{dtype}-{tied}");
        if (!Directory.Exists(folder)) RandomLlama.Write(folder, RandomLlama.Config() with { TieWordEmbeddings = tied }, dtype: dtype);
        return folder;
    }

    private float[] Logits(LlamaModel model)
    {
        using var tape = new Tape(_cpu);
        using var _ = tape.NoGrad();
        using var ids = Tensor.FromArray(_cpu, Tokens, 1, Tokens.Length);
        return model.Forward(tape, ids).Value.ToFloatArray();
    }

    /// <summary>Gives every B random values, so the adapter actually changes the model.</summary>
    private static void Randomise(LoraAdapter adapter, int seed)
    {
        var rng = new Random(seed);
        foreach (var (_, layer) in adapter.Layers)
        {
            var b = new float[layer.B.Value.Length];
            for (int i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() * 2 - 1) * 0.2f;
            layer.B.Value.Backend.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan()), layer.B.Value);
        }
    }

    private static double MaxRelativeDifference(float[] a, float[] b) =>
        a.Zip(b, (x, y) => Math.Abs(x - y)).Max() / a.Max(Math.Abs);

    [Fact]
    public void A_fresh_adapter_leaves_the_model_unchanged_and_only_its_matrices_are_trainable()
    {
        using var model = LlamaModel.Load(Model(), _cpu);
        var before = Logits(model);
        using var adapter = LoraAdapter.Attach(model, new LoraSettings { TargetModules = [.. LoraSettings.AllProjections, "lm_head"] }, seed: 3);
        Assert.Equal(before, Logits(model));   // B = 0
        Assert.Equal(2 * 7 + 1, adapter.Layers.Count);
        Assert.Equal(adapter.Parameters().ToHashSet(), model.Parameters().ToHashSet());
        // r·(in + out) per projection: q 8·(32+32), k,v 8·(32+16), o 8·64, gate/up 8·(32+48), down 8·(48+32), head 8·(32+259).
        long perLayer = 8 * (64 + 48 + 48 + 64 + 80 + 80 + 80);
        Assert.Equal(2 * perLayer + 8 * (32 + 259), adapter.ParameterCount);
        var a = adapter.Layers[0].Layer.A.Value.ToFloatArray();
        Assert.All(a, v => Assert.InRange(v, -1 / MathF.Sqrt(32), 1 / MathF.Sqrt(32)));   // Kaiming-uniform(a = √5) bound
        Assert.True(a.Select(Math.Abs).Max() > 0.8 / MathF.Sqrt(32));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Merged_weights_give_the_logits_of_the_unmerged_adapter(bool rsLora)
    {
        using var model = LlamaModel.Load(Model(DType.F32), _cpu);
        var settings = new LoraSettings { Rank = 4, Alpha = 8, UseRsLora = rsLora };
        Assert.Equal(rsLora ? 4f : 2f, settings.Scaling);
        var adapter = LoraAdapter.Attach(model, settings, seed: 1);
        Randomise(adapter, 2);
        var adapted = Logits(model);
        var q0 = adapter.Layers[0].Layer;
        // W = W0 + s·B·A, in float64, for one weight.
        var w0 = ((DenseFrozenWeight)q0.Base.Weight).Weight.ToFloatArray();
        float[] a = q0.A.Value.ToFloatArray(), b = q0.B.Value.ToFloatArray();
        adapter.MergeAndDetach();
        var merged = ((FrozenLinear)model.Layers[0].Q).DenseWeight!.ToFloatArray();
        for (int o = 0; o < 32; o += 7)
            for (int i = 0; i < 32; i += 5)
            {
                double delta = 0;
                for (int k = 0; k < 4; k++) delta += (double)b[o * 4 + k] * a[k * 32 + i];
                Assert.Equal(w0[o * 32 + i] + settings.Scaling * delta, merged[o * 32 + i], 1e-6);
            }
        Assert.Empty(model.Parameters());
        Assert.True(MaxRelativeDifference(adapted, Logits(model)) < 1e-5);
    }

    /// <summary>Logits of every step of a KV-cache decode of <see cref="Tokens"/>: a 4-token prefill, then one token at a time.</summary>
    private float[] DecodeLogits(LlamaModel model)
    {
        using var cache = new KvCache(_cpu, model.Config, Tokens.Length);
        var logits = new List<float>();
        foreach (var chunk in new[] { Tokens[..4] }.Concat(Tokens[4..].Select(t => new[] { t })))
        {
            using var tape = new Tape(_cpu);
            using var _ = tape.NoGrad();
            using var ids = Tensor.FromArray(_cpu, chunk, 1, chunk.Length);
            logits.AddRange(model.Forward(tape, ids, cache).Value.ToFloatArray());
        }
        return logits.ToArray();
    }

    [Theory]
    [InlineData(false)]   // q/k/v/gate/up all adapted: no group fuses
    [InlineData(true)]    // q and v only: q/k/v runs separately, gate/up fuses
    public void Decoding_fuses_only_plain_projections_so_attached_and_merged_adapters_keep_their_logits(bool some)
    {
        using var model = LlamaModel.Load(Model(DType.F32), _cpu);
        var settings = new LoraSettings { Rank = 4, Alpha = 8, TargetModules = some ? ["q_proj", "v_proj"] : LoraSettings.AllProjections };
        var adapter = LoraAdapter.Attach(model, settings, seed: 1);
        Randomise(adapter, 2);
        var attached = DecodeLogits(model);            // fused where a group is plain
        model.FuseProjections = false;
        Assert.Equal(DecodeLogits(model), attached);     // an adapted layer always runs its own Forward: identical
        adapter.MergeAndDetach();                         // plain frozen projections again: every group fuses
        var mergedSeparate = DecodeLogits(model);
        model.FuseProjections = true;
        var merged = DecodeLogits(model);
        Assert.Equal(mergedSeparate, merged);
        Assert.True(MaxRelativeDifference(attached, merged) < 1e-5);   // W0 + s·B·A folded in F32: rounding only
    }

    [Fact]
    public void Saved_adapter_is_peft_shaped_and_loads_back_to_the_same_logits()
    {
        var folder = Model();
        var adapterDir = Path.Combine(_dir, "adapter");
        float[] expected;
        using (var model = LlamaModel.Load(folder, _cpu))
        {
            using var adapter = LoraAdapter.Attach(model, new LoraSettings { TargetModules = ["q_proj", "v_proj", "down_proj"] }, seed: 5);
            Randomise(adapter, 6);
            expected = Logits(model);
            adapter.Save(adapterDir, baseModel: folder);
        }
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapterDir, "adapter_config.json")));
        Assert.Equal("LORA", config.RootElement.GetProperty("peft_type").GetString());
        Assert.Equal(8, config.RootElement.GetProperty("r").GetInt32());
        Assert.Equal(["q_proj", "v_proj", "down_proj"], config.RootElement.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()!));
        using (var file = Llama.Safetensors.SafetensorsFile.Open(Path.Combine(adapterDir, "adapter_model.safetensors")))
        {
            Assert.Equal(2 * 3 * 2, file.Entries.Count);
            Assert.Equal([8, 32], file["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"].Shape);
            Assert.Equal([32, 8], file["base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"].Shape);
        }
        using var reloaded = LlamaModel.Load(folder, _cpu);
        using var loaded = LoraAdapter.Load(adapterDir, reloaded);
        Assert.Equal(expected, Logits(reloaded));
    }

    /// <summary>The keys PEFT 0.13's LoraConfig.to_dict() writes that are stable across releases (checked against
    /// an adapter_config.json saved by PEFT), minus the ones for features we do not have (DoRA init options, LoftQ, …).</summary>
    private static readonly string[] PeftKeys =
    [
        "alpha_pattern", "auto_mapping", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode", "init_lora_weights",
        "layer_replication", "layers_pattern", "layers_to_transform", "lora_alpha", "lora_dropout", "modules_to_save", "peft_type",
        "r", "rank_pattern", "revision", "target_modules", "task_type", "use_dora", "use_rslora",
    ];

    [Fact]
    public void A_written_adapter_has_exactly_peft_keys_and_tensor_names()
    {
        var folder = Model();
        var adapterDir = Path.Combine(_dir, "adapter-keys");
        using (var model = LlamaModel.Load(folder, _cpu))
        using (var adapter = LoraAdapter.Attach(model, new LoraSettings { TargetModules = ["q_proj", "down_proj"] }, seed: 5))
            adapter.Save(adapterDir, baseModel: folder);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapterDir, "adapter_config.json")));
        Assert.Equal(PeftKeys.Order(), config.RootElement.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal("CAUSAL_LM", config.RootElement.GetProperty("task_type").GetString());
        Assert.Equal(16, config.RootElement.GetProperty("lora_alpha").GetDouble());
        using var file = Llama.Safetensors.SafetensorsFile.Open(Path.Combine(adapterDir, "adapter_model.safetensors"));
        var expected = from l in new[] { 0, 1 }
                       from m in new[] { "self_attn.q_proj", "mlp.down_proj" }
                       from ab in "AB"
                       select $"base_model.model.model.layers.{l}.{m}.lora_{ab}.weight";
        Assert.Equal(expected.Order(), file.Entries.Select(e => e.Name).Order());
    }

    [Fact]
    public void Rank_pattern_alpha_pattern_and_layers_to_transform_are_honoured()
    {
        // A PEFT adapter on q_proj of layer 1 only (layers_to_transform), r = 2 there by rank_pattern (8 elsewhere), alpha 4
        // on q_proj by alpha_pattern (16 elsewhere): s = 4/2 = 2 for that module.
        var folder = Model(DType.F32);
        var adapterDir = Path.Combine(_dir, "adapter-patterns");
        Directory.CreateDirectory(adapterDir);
        File.WriteAllText(Path.Combine(adapterDir, "adapter_config.json"), """
            {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "layers_to_transform": [1],
             "rank_pattern": {"layers.1.self_attn.q_proj": 2, "v_proj": 3}, "alpha_pattern": {"q_proj": 4}}
            """);
        var rng = new Random(9);
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        float[] qa = Random(2 * 32), qb = Random(32 * 2), va = Random(3 * 32), vb = Random(16 * 3);
        var writer = new Llama.Safetensors.SafetensorsWriter();
        void Add(string name, float[] v, int[] shape) => writer.Add(name, "F32", shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray());
        Add("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", qa, [2, 32]);
        Add("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", qb, [32, 2]);
        Add("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight", va, [3, 32]);
        Add("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", vb, [16, 3]);
        writer.Save(Path.Combine(adapterDir, "adapter_model.safetensors"));

        float[] adapted;
        using (var model = LlamaModel.Load(folder, _cpu))
        using (var adapter = LoraAdapter.Load(adapterDir, model))
        {
            Assert.Equal(["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"], adapter.Layers.Select(l => l.Path));
            adapted = Logits(model);
        }
        // Reference by hand: W = W0 + s·B·A in float64 (q: s = 4/2, v: s = 16/3), written into the base model's weights.
        using var reference = LlamaModel.Load(folder, _cpu);
        void Merge(string module, float[] a, float[] b, int r, double s, int outF)
        {
            var projection = Llama.Projection.Parse(module);
            var layer = reference.Layers[1][projection];
            var values = layer.DenseWeight!.ToFloatArray();
            for (int o = 0; o < outF; o++)
                for (int i = 0; i < 32; i++)
                {
                    double delta = 0;
                    for (int k = 0; k < r; k++) delta += (double)b[o * r + k] * a[k * 32 + i];
                    values[o * 32 + i] = (float)(values[o * 32 + i] + s * delta);
                }
            reference.Layers[1][projection] = new FrozenLinear(layer.Name, new DenseFrozenWeight(Tensor.FromArray(_cpu, values, outF, 32)));
        }
        Merge("q_proj", qa, qb, 2, 4.0 / 2, 32);
        Merge("v_proj", va, vb, 3, 16.0 / 3, 16);
        Assert.True(MaxRelativeDifference(Logits(reference), adapted) < 1e-5);
    }

    [Theory]
    [InlineData("\"use_dora\": true", "'use_dora'")]
    [InlineData("\"layers_pattern\": \"h\"", "'layers_pattern'")]
    [InlineData("\"layer_replication\": [[0, 2]]", "'layer_replication'")]
    [InlineData("\"modules_to_save\": [\"lm_head\"]", "'modules_to_save'")]
    [InlineData("\"rank_pattern\": {\"q_proj\": \"two\"}", "'rank_pattern'")]
    public void Adapter_fields_we_cannot_honour_are_refused_naming_file_and_field(string field, string named)
    {
        var adapterDir = Path.Combine(_dir, "adapter-refused");
        Directory.CreateDirectory(adapterDir);
        var config = Path.Combine(adapterDir, "adapter_config.json");
        File.WriteAllText(config, $$"""{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"], {{field}}}""");
        var e = Assert.Throws<UserInputException>(() => PeftAdapterFormat.ReadConfig(config));
        Assert.StartsWith(config + ": field " + named, e.Message);
    }

    [Fact]
    public void An_adapter_matrix_holding_a_NaN_is_refused_naming_the_file_and_the_tensor()
    {
        // A NaN in lora_B would show as "perplexity NaN" (exit 0), or a training run would be blamed: refuse on load.
        var folder = Model();
        var adapterDir = Path.Combine(_dir, "adapter-nan");
        using (var model = LlamaModel.Load(folder, _cpu))
        using (var adapter = LoraAdapter.Attach(model, new LoraSettings { TargetModules = ["v_proj"] }, seed: 5))
            adapter.Save(adapterDir);
        string weights = Path.Combine(adapterDir, "adapter_model.safetensors"), tensor = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight";
        Llama.Tests.Support.SafetensorsPoke.Element(weights, tensor, 3, DType.F32, "nan");
        using var reloaded = LlamaModel.Load(folder, _cpu);
        Llama.Tests.Support.Rejection.Expect<UserInputException>(() => LoraAdapter.Load(adapterDir, reloaded).Dispose(), weights, tensor, "NaN/Inf");
        Assert.Equal(typeof(FrozenLinear), reloaded.Layers[1].V.GetType());   // nothing was left attached
    }

    [Fact]
    public void An_adapter_with_tensors_outside_its_target_modules_is_refused_naming_the_first()
    {
        var folder = Model();
        var adapterDir = Path.Combine(_dir, "adapter-narrow-config");
        using (var model = LlamaModel.Load(folder, _cpu))
        using (var adapter = LoraAdapter.Attach(model, new LoraSettings { TargetModules = ["q_proj", "v_proj"] }, seed: 5))
            adapter.Save(adapterDir, baseModel: folder);
        // The config claims q_proj only, the weights hold v_proj too: loading would silently drop v_proj's update.
        var configPath = Path.Combine(adapterDir, "adapter_config.json");
        File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"v_proj\"", "\"q_proj\"").Replace("\"q_proj\",\n    \"q_proj\"", "\"q_proj\""));
        using var reloaded = LlamaModel.Load(folder, _cpu);
        var e = Assert.Throws<UserInputException>(() => LoraAdapter.Load(adapterDir, reloaded));
        Assert.StartsWith(configPath + ": target_modules [q_proj", e.Message);
        Assert.Contains("lacks 'v_proj' of tensor 'base_model.model.model.layers.0.self_attn.v_proj.lora_", e.Message);
        Assert.Equal(typeof(FrozenLinear), reloaded.Layers[0].Q.GetType());   // nothing was left attached
    }

    [Fact]
    public void Loading_an_adapter_for_another_shape_names_the_module_and_both_shapes()
    {
        var adapterDir = Path.Combine(_dir, "adapter-small");
        var small = Path.Combine(_dir, "small");
        RandomLlama.Write(small, RandomLlama.Config(intermediate: 40));
        using (var model = LlamaModel.Load(small, _cpu))
        using (var adapter = LoraAdapter.Attach(model, new LoraSettings()))
            adapter.Save(adapterDir);
        using var big = LlamaModel.Load(Model(), _cpu);
        var e = Assert.Throws<UserInputException>(() => LoraAdapter.Load(adapterDir, big));
        Assert.Contains("adapter_model.safetensors", e.Message);
        Assert.Contains("model.layers.0.mlp.gate_proj", e.Message);
        Assert.Contains("[8, 32] and lora_B [40, 8]", e.Message);
        Assert.Contains("[48, 8]", e.Message);
        Assert.Equal(typeof(FrozenLinear), big.Layers[0].Q.GetType());   // nothing was left attached

        File.WriteAllText(Path.Combine(adapterDir, "adapter_config.json"), """{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"]}""");
        e = Assert.Throws<UserInputException>(() => LoraAdapter.Load(adapterDir, big));
        Assert.EndsWith("adapter_config.json: field 'lora_alpha' is missing", e.Message);
    }

    [Fact]
    public void Lora_training_lowers_the_loss_and_leaves_the_base_weights_untouched()
    {
        using var model = LlamaModel.Load(Model(DType.BF16, tied: true), _cpu);
        var baseBits = model.Projections().ToDictionary(p => p.Path, p => p.Layer.DenseWeight!.ToArray<ushort>());
        using var adapter = LoraAdapter.Attach(model, new LoraSettings { Dropout = 0.1f }, seed: 7);
        using var optimizer = new AdamW(adapter.Parameters().ToList(), weightDecay: 0f);
        using var ids = Tensor.FromArray(_cpu, Tokens[..^1], 1, Tokens.Length - 1);
        using var targets = Tensor.FromArray(_cpu, Tokens[1..], 1, Tokens.Length - 1);
        float first = 0, last = 0;
        for (int step = 0; step < 40; step++)
        {
            adapter.SetDropoutSeed(step);
            using var tape = new Tape(_cpu);
            var loss = tape.CrossEntropy(model.Forward(tape, ids), targets);
            last = loss.Item();
            if (step == 0) first = last;
            tape.Backward(loss);
            optimizer.Step(1e-2f);
            optimizer.ZeroGrad();
        }
        Assert.True(last < 0.5f * first, $"loss {first:F3} → {last:F3}");
        foreach (var (path, layer) in adapter.Layers)
        {
            var w0 = (DenseFrozenWeight)layer.Base.Weight;
            Assert.Equal(DType.BF16, w0.Weight.DType);   // still 2 bytes per weight, never a float32 copy
            Assert.Equal(baseBits[path], w0.Weight.ToArray<ushort>());
        }
    }

    [Fact]
    public void A_masked_adapter_never_changes_pruned_positions()
    {
        using var model = LlamaModel.Load(Model(DType.F32), _cpu);
        var rng = new Random(9);
        var masks = new Dictionary<string, float[]>();
        using var adapter = LoraAdapter.Attach(model, new LoraSettings { Rank = 2, TargetModules = ["up_proj"] }, seed: 1, maskOf: path =>
        {
            var m = Enumerable.Range(0, 48 * 32).Select(_ => rng.NextDouble() < 0.5 ? 0f : 1f).ToArray();
            masks[path] = m;
            return Tensor.FromArray(_cpu, m, 48, 32);
        });
        Randomise(adapter, 3);
        var w0 = adapter.Layers.Select(l => l.Layer.Base.DenseWeight!.ToFloatArray()).ToList();
        var paths = adapter.Layers.Select(l => l.Path).ToList();
        adapter.MergeAndDetach();
        for (int l = 0; l < paths.Count; l++)
        {
            var merged = ((FrozenLinear)model.Layers[l].Up).DenseWeight!.ToFloatArray();
            var m = masks[paths[l]];
            for (int i = 0; i < m.Length; i++)
                if (m[i] == 0) Assert.Equal(w0[l][i], merged[i]);
            Assert.Contains(Enumerable.Range(0, m.Length), i => m[i] == 1 && merged[i] != w0[l][i]);
        }
    }
}
