using LoRAM.Autograd;
using LoRAM.Llama.Generation;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Llama.Tests.Model;

/// <summary>
/// The engine's LLaMA against an independent float64 implementation of the same equations (LlamaReference64),
/// and against itself: KV-cache decoding vs the full forward, padded batches vs single sequences, checkpointed vs
/// plain backward, save/load round trips, bad checkpoints.
/// </summary>
public class LlamaModelTests
{
    private static readonly int[] Tokens = [256, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10, 3];

    /// <summary>Relative error max|a − b| / max|b| over all logits.</summary>
    private static double RelativeError(float[] ours, double[,] reference)
    {
        double maxDiff = 0, maxRef = 0;
        int t = reference.GetLength(0), v = reference.GetLength(1);
        for (int i = 0; i < t; i++)
            for (int j = 0; j < v; j++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(ours[i * v + j] - reference[i, j]));
                maxRef = Math.Max(maxRef, Math.Abs(reference[i, j]));
            }
        return maxDiff / maxRef;
    }

    private static float[] Logits(LlamaModel model, int[] tokens)
    {
        using var tape = new Tape(model.Backend);
        using var _ = tape.NoGrad();
        using var ids = Tensor.FromArray(model.Backend, tokens, 1, tokens.Length);
        return model.Forward(tape, ids).Value.ToFloatArray();
    }

    public static TheoryData<string, int, bool, bool> Variants => new()
    {
        // dtype, kv heads (4 = MHA, 2 and 1 = GQA), tied head, llama3 rope scaling
        { "F32", 4, false, false },
        { "F32", 2, false, false },
        { "F32", 1, true, false },
        { "F32", 2, true, true },
        { "BF16", 4, true, false },
        { "BF16", 2, false, true },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Logits_match_the_float64_reference_to_1e_4(string dtype, int kvHeads, bool tied, bool llama3)
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions
        {
            KvHeads = kvHeads, Tied = tied, Llama3RopeScaling = llama3, DType = Enum.Parse<DType>(dtype), Layers = 3,
        });
        var reference = new LlamaReference64(dir.Path).Logits(Tokens);
        using var cpu = new CpuBackend(2);
        using var model = LlamaModel.Load(dir.Path, cpu);
        var ours = Logits(model, Tokens);
        double error = RelativeError(ours, reference);
        Assert.True(error < 1e-4, $"relative error {error:E2}");
        // The frozen weights stay in the checkpoint's dtype: no float32 copy of a BF16 model.
        Assert.All(model.Projections(), p => Assert.Equal(Enum.Parse<DType>(dtype), p.Layer.DenseWeight!.DType));
    }

    [Fact]
    public void Ilgpu_backend_gives_the_same_logits_as_the_cpu_backend()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 2, DType = DType.BF16, Layers = 2 });
        using var cpu = new CpuBackend(1);
        using var ilgpu = IlgpuBackend.CreateCpu();
        using var a = LlamaModel.Load(dir.Path, cpu);
        using var b = LlamaModel.Load(dir.Path, ilgpu);
        int[] tokens = Tokens[..9];
        var x = Logits(a, tokens);
        var y = Logits(b, tokens);
        double maxDiff = x.Zip(y, (p, q) => Math.Abs(p - q)).Max(), maxAbs = x.Max(Math.Abs);
        Assert.True(maxDiff / maxAbs < 1e-5, $"relative difference {maxDiff / maxAbs:E2}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Kv_cache_decoding_gives_the_full_forward_logits_at_every_position(bool llama3)
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 2, Llama3RopeScaling = llama3 });
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu);
        var full = Logits(model, Tokens);
        int v = config.VocabSize;

        // A 5-token prefill, then one token at a time.
        using var cache = new KvCache(cpu, config, Tokens.Length);
        var decoded = new List<float>();
        foreach (var chunk in new[] { Tokens[..5] }.Concat(Tokens[5..].Select(t => new[] { t })))
        {
            using var tape = new Tape(cpu);
            using var _ = tape.NoGrad();
            using var ids = Tensor.FromArray(cpu, chunk, 1, chunk.Length);
            decoded.AddRange(model.Forward(tape, ids, cache).Value.ToFloatArray());
        }
        Assert.Equal(Tokens.Length, cache.Length);
        Assert.Equal(full.Length, decoded.Count);
        for (int i = 0; i < full.Length; i++)
            Assert.True(Math.Abs(full[i] - decoded[i]) <= 1e-5 * (1 + Math.Abs(full[i])), $"position {i / v}, token {i % v}: {full[i]} vs {decoded[i]}");
    }

    [Fact]
    public void Right_padded_batch_gives_each_sequence_its_own_logits_on_real_positions()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 1 });
        using var cpu = new CpuBackend(2);
        using var model = LlamaModel.Load(dir.Path, cpu);
        int[] a = Tokens[..12], b = Tokens[4..9];
        int t = a.Length, v = config.VocabSize;
        var batch = a.Concat(b).Concat(Enumerable.Repeat(257, t - b.Length)).ToArray();   // b right-padded with EOS
        float[] logits;
        using (var tape = new Tape(cpu))
        using (tape.NoGrad())
        using (var ids = Tensor.FromArray(cpu, batch, 2, t))
            logits = model.Forward(tape, ids).Value.ToFloatArray();
        var alone = new[] { Logits(model, a), Logits(model, b) };
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < alone[s].Length; i++)
                Assert.Equal(alone[s][i], logits[s * t * v + i], 4e-5f);
    }

    [Fact]
    public void Last_position_only_equals_the_last_row_of_the_full_logits()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { Tied = true });
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu);
        var full = Logits(model, Tokens);
        using var tape = new Tape(cpu);
        using var _ = tape.NoGrad();
        using var ids = Tensor.FromArray(cpu, Tokens, 1, Tokens.Length);
        var last = model.Forward(tape, ids, lastPositionOnly: true);
        Assert.Equal([1, 1, config.VocabSize], last.Value.ShapeArray());
        var ours = last.Value.ToFloatArray();
        for (int i = 0; i < ours.Length; i++)   // m = 1 takes the GEMV path: another summation order
            Assert.Equal(full[full.Length - config.VocabSize + i], ours[i], 1e-5f * (1 + Math.Abs(ours[i])));
    }

    /// <summary>Loss of a full-parameter model on <see cref="Tokens"/> (next-token cross-entropy), with gradients.</summary>
    private static float LossAndBackward(LlamaModel model, bool backward, int[]? tokens = null)
    {
        var be = model.Backend;
        tokens ??= Tokens;
        using var tape = new Tape(be);
        using var ids = Tensor.FromArray(be, tokens[..^1], 1, tokens.Length - 1);
        using var targets = Tensor.FromArray(be, tokens[1..], 1, tokens.Length - 1);
        var loss = tape.CrossEntropy(model.Forward(tape, ids), targets);
        float value = loss.Item();
        if (backward) tape.Backward(loss);
        return value;
    }

    [Fact]
    public void Weights_outside_the_trained_set_stay_frozen_in_their_stored_dtype_with_no_gradient_and_the_loss_is_unchanged()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 2, Tied = false, Layers = 2, DType = DType.BF16 });
        using var cpu = new CpuBackend(1);
        using var all = LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions { Trainable = true });
        using var some = LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions
        {
            Trainable = true, TrainedWeights = name => name != LlamaTensorNames.LmHead && !name.StartsWith("model.layers.0.", StringComparison.Ordinal),
        });
        var names = some.Parameters().Select(p => p.Name!).ToHashSet();
        Assert.Equal(all.Parameters().Count() - 10, names.Count);               // lm_head and layer 0's 7 projections + 2 norms
        Assert.DoesNotContain(LlamaTensorNames.LmHead, names);
        Assert.Contains(LlamaTensorNames.Q(1), names);
        var head = Assert.IsType<FrozenLinear>(some.LmHead);
        Assert.Equal(DType.BF16, head.DenseWeight!.DType);                      // the mapped BF16 weight, no F32 copy
        Assert.IsType<FrozenLinear>(some.Layers[0].Gate);
        Assert.Equal(LossAndBackward(all, backward: false), LossAndBackward(some, backward: true), 6);
        Assert.NotNull(((TrainableLinear)some.Layers[1].Gate).Weight.Grad);
    }

    [Fact]
    public void Full_parameter_gradients_match_central_differences()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 2, Tied = true, Layers = 2 });
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions { Trainable = true });
        LossAndBackward(model, backward: true);

        // One weight of each kind, at its largest-gradient element (so float32 central differences resolve it).
        var checkedWeights = new[]
        {
            model.Embedding, model.Layers[0].InputNorm, ((TrainableLinear)model.Layers[0].Q).Weight, ((TrainableLinear)model.Layers[0].K).Weight,
            ((TrainableLinear)model.Layers[1].V).Weight, ((TrainableLinear)model.Layers[1].O).Weight, ((TrainableLinear)model.Layers[1].Gate).Weight,
            ((TrainableLinear)model.Layers[0].Down).Weight, model.Layers[1].PostAttentionNorm, model.FinalNorm,
        };
        foreach (var w in checkedWeights)
        {
            var grad = w.Grad!.ToFloatArray();
            int at = Enumerable.Range(0, grad.Length).MaxBy(i => Math.Abs(grad[i]));
            var values = w.Value.ToFloatArray();
            float original = values[at];
            const float h = 1e-2f;
            double Loss(float value)
            {
                values[at] = value;
                cpu.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()), w.Value);
                return LossAndBackward(model, backward: false);
            }
            double numeric = (Loss(original + h) - Loss(original - h)) / (2 * h);
            Loss(original);
            Assert.True(Math.Abs(numeric - grad[at]) <= 2e-2 * Math.Abs(grad[at]) + 1e-4,
                $"{w.Name}[{at}]: analytic {grad[at]:E4}, numeric {numeric:E4}");
        }
    }

    [Fact]
    public void Checkpointed_layers_give_the_same_gradients_with_less_activation_memory()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 4, Hidden = 64, Intermediate = 128 });
        using var cpu = new CpuBackend(1);
        var rng = new Random(5);
        var tokens = Enumerable.Range(0, 64).Select(_ => rng.Next(256)).ToArray();   // long enough that activations outweigh gradients
        (float[][] Grads, long Peak) Run(bool checkpoint)
        {
            using var model = LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions { Trainable = true, CheckpointLayers = checkpoint });
            cpu.ResetPeak();
            long before = cpu.Memory.LiveBytes;
            LossAndBackward(model, backward: true, tokens);
            long peak = cpu.Memory.PeakLiveBytes - before;
            return (model.Parameters().Select(p => p.Grad!.ToFloatArray()).ToArray(), peak);
        }
        var plain = Run(false);
        var checkpointed = Run(true);
        for (int p = 0; p < plain.Grads.Length; p++)
            for (int i = 0; i < plain.Grads[p].Length; i++)
                Assert.Equal(plain.Grads[p][i], checkpointed.Grads[p][i], 1e-5f);
        Assert.True(checkpointed.Peak < plain.Peak, $"checkpointed peak {checkpointed.Peak} B vs {plain.Peak} B");
    }

    [Fact]
    public void Saved_model_loads_back_to_the_same_logits_and_dtype()
    {
        using var dir = new TempFolder();
        using var saved = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Tied = false });
        using var cpu = new CpuBackend(1);
        float[] expected;
        using (var model = LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions { Trainable = true }))
        {
            expected = Logits(model, Tokens);
            model.Save(saved.Path, DType.F32, tokenizerFrom: dir.Path);
        }
        Assert.True(File.Exists(saved.File("loram_tokenizer.json")));
        using var loaded = LlamaModel.Load(saved.Path, cpu, new LlamaModelOptions { FrozenDType = DType.BF16 });
        Assert.All(loaded.Projections(), p => Assert.Equal(DType.BF16, p.Layer.DenseWeight!.DType));
        var bf16 = Logits(loaded, Tokens);
        double maxDiff = expected.Zip(bf16, (a, b) => Math.Abs(a - b)).Max(), maxAbs = expected.Max(Math.Abs);
        Assert.InRange(maxDiff / maxAbs, 1e-6, 2e-2);   // BF16 storage rounds the weights (2⁻⁹ relative), but not by much
        using var exact = LlamaModel.Load(saved.Path, cpu);
        Assert.Equal(expected, Logits(exact, Tokens));
    }

    [Fact]
    public void Frozen_model_has_no_parameters_and_accounts_weights_by_dtype()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { DType = DType.BF16, Tied = true });
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu);
        Assert.Empty(model.Parameters());
        long norms = (2L * config.NumHiddenLayers + 1) * config.HiddenSize * 4;   // norms are kept in F32
        Assert.Equal(2 * (config.ParameterCount() - (2L * config.NumHiddenLayers + 1) * config.HiddenSize) + norms, model.WeightBytes());
        var ledger = new MemoryLedger();
        model.RegisterMemory(ledger);
        ledger.Sample(cpu);
        Assert.Equal(model.WeightBytes() - norms, ledger.Live(MemoryCategory.FrozenBF16));
        Assert.Equal(norms, ledger.Live(MemoryCategory.FrozenF32));
    }

    [Fact]
    public void Missing_or_misshapen_tensor_is_reported_with_file_and_name()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path);
        var bigger = config with { IntermediateSize = config.IntermediateSize + 1 };
        bigger.Save(dir.File("config.json"));
        using var cpu = new CpuBackend(1);
        var e = Assert.Throws<LlamaFormatException>(() => LlamaModel.Load(dir.Path, cpu));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);

        (config with { NumHiddenLayers = config.NumHiddenLayers + 1 }).Save(dir.File("config.json"));
        e = Assert.Throws<LlamaFormatException>(() => LlamaModel.Load(dir.Path, cpu));
        Assert.Contains("model.layers.2.input_layernorm.weight", e.Message);
    }

    [Fact]
    public void Greedy_generation_follows_the_argmax_of_the_full_forward_and_stops_at_eos()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 2 });
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu);
        int[] prompt = Tokens[..4];
        var generated = Generator.Generate(model, prompt, 8, SamplingOptions.Greedy, new HashSet<int>()).Select(g => g.Id).ToList();
        Assert.Equal(8, generated.Count);

        var sequence = prompt.ToList();
        foreach (var id in generated)
        {
            var logits = Logits(model, sequence.ToArray());
            Assert.Equal(Sampler.ArgMax(logits.AsSpan(logits.Length - config.VocabSize)), id);
            sequence.Add(id);
        }

        // Declaring the third token a stop token ends generation right after it.
        var stopped = Generator.Generate(model, prompt, 8, SamplingOptions.Greedy, new HashSet<int> { generated[2] }).Select(g => g.Id).ToList();
        Assert.Equal(generated.Take(3), stopped);
    }
}
