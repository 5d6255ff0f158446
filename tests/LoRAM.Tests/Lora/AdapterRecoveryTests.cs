using LoRAM.Llama.Tests.Support;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Lora;
using LoRAM.Pruning;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Pruning;
using LoRAM.Tests.Support;
using static LoRAM.Tests.Pruning.ModelFixtures;

namespace LoRAM.Tests.Lora;

/// <summary>
/// Recovery (paper Eq. 5–6) as a specification: the original model with the pruned units' weights zeroed, plus
/// the recovered adapter, computes exactly what the pruned model plus its adapter computes — so every trained
/// update lands on the unit it was trained for and pruned units receive none.
/// </summary>
public sealed class AdapterRecoveryTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly CpuBackend _cpu = new(1);

    public void Dispose()
    {
        _cpu.Dispose();
        _dir.Dispose();
    }

    private static RecoveryReport Recover(string pruned, string adapter, string original, string outDir, bool masked = false,
        RecoveredA fillA = RecoveredA.Zero, int seed = 1) =>
        AdapterRecovery.Run(new RecoveryOptions { PrunedModel = pruned, Adapter = adapter, OriginalModel = original, Out = outDir, Masked = masked, FillA = fillA, Seed = seed });

    /// <summary>Trains nothing, but gives A and B random values: an adapter that changes every targeted projection.</summary>
    private static void SaveRandomAdapter(LlamaModel model, string folder, int seed, Func<string, Tensor?>? masks = null)
    {
        using var adapter = LoraAdapter.Attach(model, new LoraSettings { Rank = 4, TargetModules = [.. LoraSettings.AllProjections, "lm_head"] }, seed, masks);
        var rng = new Random(seed);
        foreach (var (_, layer) in adapter.Layers)
        {
            var b = Enumerable.Range(0, (int)layer.B.Value.Length).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.4f).ToArray();
            layer.B.Value.Backend.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan()), layer.B.Value);
        }
        adapter.Save(folder);
    }

    [Fact]
    public void NormA_draws_only_the_pruned_columns_of_A_from_a_normal_of_std_one_over_r_and_keeps_everything_else()
    {
        var src = Path.Combine(_dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 3, Heads = 4, KvHeads = 4, Hidden = 64, Intermediate = 256 });
        var prunedDir = Path.Combine(_dir.Path, "pruned");
        ModelPruner.Run(new PruneOptions { Model = src, Out = prunedDir, Method = PruningMethod.Rand, Ratio = 0.5, KeepFirst = 1, KeepLast = 1 }, _cpu);
        var adapterDir = Path.Combine(_dir.Path, "adapter-pruned");
        using (var pruned = LlamaModel.Load(prunedDir, _cpu)) SaveRandomAdapter(pruned, adapterDir, 3);
        string zero = Path.Combine(_dir.Path, "zeroA"), norm = Path.Combine(_dir.Path, "normA"), again = Path.Combine(_dir.Path, "normA-again");
        Recover(prunedDir, adapterDir, src, zero);
        Recover(prunedDir, adapterDir, src, norm, fillA: RecoveredA.Normal, seed: 7);
        Recover(prunedDir, adapterDir, src, again, fillA: RecoveredA.Normal, seed: 7);

        var record = PruningRecord.LoadFor(prunedDir);
        using var zf = LoRAM.Llama.Safetensors.SafetensorsFile.Open(Path.Combine(zero, PeftAdapterFormat.WeightsFile));
        using var nf = LoRAM.Llama.Safetensors.SafetensorsFile.Open(Path.Combine(norm, PeftAdapterFormat.WeightsFile));
        Assert.Equal(File.ReadAllBytes(Path.Combine(norm, PeftAdapterFormat.WeightsFile)), File.ReadAllBytes(Path.Combine(again, PeftAdapterFormat.WeightsFile)));
        var drawn = new List<float>();
        foreach (var e in zf.Entries)
        {
            float[] z = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(zf.RawBytes(e.Name)).ToArray(), n = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(nf.RawBytes(e.Name)).ToArray();
            var parsed = PeftAdapterFormat.ParseTensorName(e.Name)!.Value;
            var projection = LoRAM.Llama.Projection.Find(parsed.Path.Split('.')[^1]);
            int layer = projection is null ? -1 : int.Parse(parsed.Path.Split('.')[2]);
            var keptCols = projection is null || parsed.Matrix != 'A' ? null : record.KeptColumns(layer, projection).ToHashSet();
            int cols = e.Shape[^1];
            for (int i = 0; i < z.Length; i++)
            {
                bool prunedColumn = keptCols is not null && !keptCols.Contains(i % cols);
                if (prunedColumn) { Assert.Equal(0f, z[i]); drawn.Add(n[i]); }
                else Assert.Equal(z[i], n[i]);   // B, kept columns, unpruned layers: the zeroA adapter exactly
            }
        }
        // Layer 1's o_proj (2 pruned heads × 16) and down_proj (128 pruned channels), rank 4: 4 × 160 draws of N(0, 1/4²).
        Assert.Equal(4 * (2 * 16 + 128), drawn.Count);
        double mean = drawn.Average(v => (double)v), std = Math.Sqrt(drawn.Average(v => ((double)v - mean) * (v - mean)));
        Assert.InRange(mean, -0.05, 0.05);           // 5 standard errors of the mean (0.25/√640 ≈ 0.0099)
        Assert.InRange(std, 0.25 * 0.9, 0.25 * 1.1); // the sample std of 640 draws is within 10 % (its standard error is 2.8 %)
    }

    [Theory]
    [InlineData("stru", 2, 0.5)]
    [InlineData("rand", 4, 0.75)]
    public void Original_with_pruned_units_zeroed_plus_recovered_adapter_equals_pruned_model_plus_its_adapter(string method, int kvHeads, double ratio)
    {
        var src = Path.Combine(_dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 4, KvHeads = kvHeads, Heads = 4 });
        var prunedDir = Path.Combine(_dir.Path, "pruned");
        ModelPruner.Run(new PruneOptions { Model = src, Out = prunedDir, Method = PruningMethods.Parse(method), Ratio = ratio, KeepFirst = 1, KeepLast = 1, Samples = 4, SeqLen = 24, Seed = 5 }, _cpu);
        var adapterDir = Path.Combine(_dir.Path, "adapter-pruned");
        float[] expected;
        using (var pruned = LlamaModel.Load(prunedDir, _cpu))
        {
            SaveRandomAdapter(pruned, adapterDir, 3);
            using var _ = LoraAdapter.Load(adapterDir, pruned);
            expected = Logits(pruned, Tokens);
        }

        var recovered = Path.Combine(_dir.Path, "adapter-recovered");
        Assert.Equal(Path.GetFullPath(recovered), Recover(prunedDir, adapterDir, src, recovered).OutFolder);
        // adapter_config.json is PEFT's alone; how it was recovered is in loram_recovery.json beside it.
        using (var peft = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(recovered, "adapter_config.json"))))
            Assert.False(peft.RootElement.TryGetProperty("loram", out _));
        using (var meta = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(recovered, "loram_recovery.json"))))
        {
            Assert.Equal("scatter", meta.RootElement.GetProperty("recovery").GetString());
            Assert.Equal(ratio, meta.RootElement.GetProperty("pruning_ratio").GetDouble());
        }
        var record = PruningRecord.LoadFor(prunedDir);
        var (config, weights) = HostWeights(src);
        using var zeroed = ModelFrom(config, StructuredPruningTests.ZeroRemovedUnits(weights, config, record), _cpu);
        using var adapter = LoraAdapter.Load(recovered, zeroed);
        Assert.Equal(2 * (4 * 7 + 1), adapter.Parameters().Count());
        double error = MaxRelativeDifference(Logits(zeroed, Tokens), expected);
        Assert.True(error < 1e-5, $"relative difference {error:E2}");

        // Pruned rows of B and columns of A are zero: q rows of a removed head, down columns of a removed channel.
        var layer1 = record.Layers[1];
        int removedHead = Enumerable.Range(0, 4).First(h => !layer1.KeptHeads!.Contains(h));
        var qB = adapter.Layers.Single(l => l.Path == "model.layers.1.self_attn.q_proj").Layer.B.Value.ToFloatArray();
        Assert.All(qB.Skip(removedHead * config.HeadDim * 4).Take(config.HeadDim * 4), v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData("unst")]
    [InlineData("semi")]
    [InlineData("wanda")]
    [InlineData("magnitude")]
    public void Non_structured_recovery_hands_back_b_a_unmasked_or_b_a_times_m_masked_on_request(string method)
    {
        var src = Path.Combine(_dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 2, Hidden = 64, Intermediate = 128 });
        var prunedDir = Path.Combine(_dir.Path, "pruned");
        ModelPruner.Run(new PruneOptions { Model = src, Out = prunedDir, Method = PruningMethods.Parse(method), Ratio = 0.5, Samples = 4, SeqLen = 24 }, _cpu);
        var adapterDir = Path.Combine(_dir.Path, "adapter-pruned");
        using (var pruned = LlamaModel.Load(prunedDir, _cpu))
            SaveRandomAdapter(pruned, adapterDir, 4, PruningMasks.Load(prunedDir, _cpu));

        string unmasked = Path.Combine(_dir.Path, "unmasked"), masked = Path.Combine(_dir.Path, "masked");
        Assert.False(Recover(prunedDir, adapterDir, src, unmasked).Masked);
        Assert.True(Recover(prunedDir, adapterDir, src, masked, masked: true).Masked);
        Assert.Equal(File.ReadAllBytes(Path.Combine(adapterDir, PeftAdapterFormat.WeightsFile)), File.ReadAllBytes(Path.Combine(unmasked, PeftAdapterFormat.WeightsFile)));
        Assert.False(File.Exists(Path.Combine(unmasked, MaskFile.FileName)));

        using var original = LlamaModel.Load(src, _cpu);
        float[] withUnmasked, withMasked;
        using (LoraAdapter.Load(unmasked, original)) withUnmasked = Logits(original, Tokens);
        using (var a = LoraAdapter.Load(masked, original))
        {
            Assert.All(a.Layers.Where(l => l.Path != "lm_head"), l => Assert.NotNull(l.Layer.Mask));
            withMasked = Logits(original, Tokens);
        }

        // The update each adapter applies, written out: W0 + s·B·A (unmasked, the paper's C3) and W0 + s·(B·A) ⊙ M
        // (masked; the LM head has no mask), merged on the host into the original weights.
        using var maskOf = new MaskSet(PruningMasks.Load(prunedDir, _cpu)!);
        Assert.True(MaxRelativeDifference(withUnmasked, Logits(Merged(src, adapterDir, null), Tokens)) < 1e-5);
        Assert.True(MaxRelativeDifference(withMasked, Logits(Merged(src, adapterDir, maskOf.Get), Tokens)) < 1e-5);
        Assert.True(MaxRelativeDifference(withUnmasked, withMasked) > 1e-4);   // the masks remove part of the update
        Assert.True(maskOf.Count > 0 && maskOf.ZeroFraction > 0.2, $"{method}: {maskOf.ZeroFraction:P0} of the masked weights pruned");
    }

    /// <summary>The original model with the adapter's s·B·A (⊙ M where <paramref name="mask"/> gives one) added on the host.</summary>
    private LlamaModel Merged(string src, string adapterDir, Func<string, float[]?>? mask)
    {
        var (config, weights) = HostWeights(src);
        var settings = PeftAdapterFormat.ReadConfig(Path.Combine(adapterDir, PeftAdapterFormat.ConfigFile));
        using var file = Llama.Safetensors.SafetensorsFile.Open(Path.Combine(adapterDir, PeftAdapterFormat.WeightsFile));
        foreach (var path in file.Entries.Select(e => PeftAdapterFormat.ParseTensorName(e.Name)!.Value.Path).Distinct())
        {
            float[] HostTensor(char m)
            {
                using var t = file.Load(_cpu, $"base_model.model.{path}.lora_{m}.weight", DType.F32);
                return t.ToFloatArray();
            }
            float[] a = HostTensor('A'), b = HostTensor('B');
            var (w, shape) = weights[path + ".weight"];
            int rows = shape[0], cols = shape[1], r = settings.Rank;
            var m = mask?.Invoke(path);
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                {
                    double ba = 0;
                    for (int k = 0; k < r; k++) ba += (double)b[i * r + k] * a[k * cols + j];
                    w[i * cols + j] += (float)(settings.Scaling * ba * (m is null ? 1 : m[i * cols + j]));
                }
        }
        return ModelFrom(config, weights, _cpu);
    }

    /// <summary>The pruned folder's masks as host arrays, by module path.</summary>
    private sealed class MaskSet(Func<string, Tensor?> load) : IDisposable
    {
        private readonly Dictionary<string, float[]?> _masks = new();
        public float[]? Get(string path)
        {
            if (_masks.TryGetValue(path, out var m)) return m;
            using var t = load(path);
            return _masks[path] = t?.ToFloatArray();
        }
        public int Count => _masks.Values.Count(m => m is not null);
        public double ZeroFraction => _masks.Values.Where(m => m is not null).SelectMany(m => m!).Average(v => v == 0 ? 1.0 : 0.0);
        public void Dispose() { }
    }

    [Fact]
    public void Recovering_for_a_different_original_names_the_layer_and_both_shapes()
    {
        var src = Path.Combine(_dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 4, KvHeads = 2 });
        var prunedDir = Path.Combine(_dir.Path, "pruned");
        ModelPruner.Run(new PruneOptions { Model = src, Out = prunedDir, Method = PruningMethod.Rand, Ratio = 0.5, KeepFirst = 1, KeepLast = 1 }, _cpu);
        var adapterDir = Path.Combine(_dir.Path, "adapter");
        using (var pruned = LlamaModel.Load(prunedDir, _cpu)) SaveRandomAdapter(pruned, adapterDir, 1);
        var other = Path.Combine(_dir.Path, "other");
        TinyLlama.Write(other, new TinyLlamaOptions { Layers = 4, KvHeads = 2, Intermediate = 64 });
        var e = Assert.Throws<UserInputException>(() => Recover(prunedDir, adapterDir, other, Path.Combine(_dir.Path, "r")));
        Assert.Contains("layer 0", e.Message);
        Assert.Contains("48 channels", e.Message);
        Assert.Contains("64", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "r")));
    }
}
