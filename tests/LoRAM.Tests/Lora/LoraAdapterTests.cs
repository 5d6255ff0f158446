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
