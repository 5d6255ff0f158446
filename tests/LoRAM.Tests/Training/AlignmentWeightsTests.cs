using LoRAM.Data;
using LoRAM.Llama;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Progress;
using LoRAM.Pruning;
using LoRAM.Tensors.Cpu;
using LoRAM.Training;

namespace LoRAM.Tests.Training;

/// <summary>Alignment (Eq. 8) trains the weights it is told to and leaves the rest bit for bit; its report says how far
/// each trained tensor moved.</summary>
public sealed class AlignmentWeightsTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly CpuBackend _cpu = new(1);

    public void Dispose()
    {
        _cpu.Dispose();
        _dir.Dispose();
    }

    private (string Pruned, string Corpus) PrunedModel()
    {
        var src = Path.Combine(_dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 3, Hidden = 32, Heads = 4, KvHeads = 2, Intermediate = 64, Tied = false });
        var pruned = Path.Combine(_dir.Path, "pruned");
        ModelPruner.Run(new PruneOptions { Model = src, Out = pruned, Method = PruningMethod.Rand, Ratio = 0.5, KeepFirst = 1, KeepLast = 1 }, _cpu);
        var corpus = Path.Combine(_dir.Path, "corpus.txt");
        PlainTextCorpus.Write(corpus, new CorpusGenerator(World.Generate(3), 3).Documents(20_000));
        return (pruned, corpus);
    }

    private CorpusTrainingReport Align(string pruned, string corpus, AlignedWeights weights) => Alignment.Run(new AlignmentOptions
    {
        Model = pruned, Data = corpus, Tokens = 1024, Out = Path.Combine(_dir.Path, $"aligned-{weights}"), SeqLen = 32, Batch = 4,
        LearningRate = 1e-2, EvalSequences = 0, SaveDType = Tensors.DType.F32, Weights = weights,
    }, _cpu, LineProgress.None);

    private Dictionary<string, float[]> Weights(string folder)
    {
        using var w = LlamaWeights.Load(folder, _cpu);
        return LlamaTensorNames.Expected(w.Config).ToDictionary(e => e.Name, e => w[e.Name].ToFloatArray());
    }

    [Theory]
    [InlineData(AlignedWeights.All)]
    [InlineData(AlignedWeights.AllButLmHead)]
    [InlineData(AlignedWeights.PrunedLayers)]
    public void Exactly_the_chosen_weights_move_and_the_report_measures_each(AlignedWeights weights)
    {
        var (pruned, corpus) = PrunedModel();
        var report = Align(pruned, corpus, weights);
        var before = Weights(pruned);
        var after = Weights(report.Out);
        bool Trains(string name) => weights switch
        {
            AlignedWeights.All => true,
            AlignedWeights.AllButLmHead => name != LlamaTensorNames.LmHead,
            _ => name.StartsWith("model.layers.1.", StringComparison.Ordinal),   // keep-first 1, keep-last 1 of 3: layer 1 is pruned
        };
        Assert.NotNull(report.WeightChange);
        foreach (var (name, w0) in before)
        {
            bool moved = !w0.AsSpan().SequenceEqual(after[name]);
            Assert.True(Trains(name) == moved, $"{name}: trained {Trains(name)}, moved {moved}");
            if (Trains(name))
                Assert.Equal(CorpusTraining.RelativeChange(w0, after[name]), report.WeightChange![name], 6);
            else Assert.False(report.WeightChange!.ContainsKey(name), name);
        }
    }

    [Fact]
    public void Weight_change_read_in_chunks_equals_the_whole_array_figure()
    {
        var rng = new Random(8);
        int n = 40_000;                                        // three chunks of 16 K, the last partial
        float[] w0 = new float[n], w1 = new float[n];
        for (int i = 0; i < n; i++) { w0[i] = (float)(rng.NextDouble() - 0.5); w1[i] = w0[i] + (float)(rng.NextDouble() - 0.5) * 1e-2f; }
        using var a = Tensors.Tensor.FromArray(_cpu, w0, 200, 200);
        using var b = Tensors.Tensor.FromArray(_cpu, w1, 200, 200);
        Assert.Equal(CorpusTraining.RelativeChange(w0, w1), CorpusTraining.RelativeChange(a, b));
    }

    [Fact]
    public void The_defaults_are_the_official_scripts_recipe_scaled_to_the_run()
    {
        var d = new AlignmentOptions { Model = "m", Data = "d", Tokens = 1, Out = "o" };
        Assert.Equal(AlignedWeights.AllButLmHead, d.Weights);                    // lm_head frozen
        Assert.Equal(0, d.MinLrRatio);                                           // cosine to 0
        Assert.Equal(0, d.WeightDecay);
        Assert.Equal(1.0, d.Clip);                                               // HF Trainer's max_grad_norm
        Assert.Equal(100, d.WarmupSteps(1600));                                  // 100 of 1,600 steps
        Assert.Equal(4, d.WarmupSteps(64));                                      // the pipeline's 131,072 tokens / (8 × 256)
        Assert.Equal(1, d.WarmupSteps(8));                                       // at least one step of warm-up
        Assert.Equal(0, d.WarmupSteps(1));
        Assert.Equal(12, (d with { Warmup = 12 }).WarmupSteps(64));              // --warmup N overrides the fraction
        // 5e-5 is 1/6 of LLaMA-2-13B's pre-training peak (3e-4); ours is 2e-3, so 3.33e-4 (to three figures).
        Assert.Equal(3.33e-4, d.LearningRate, 12);
        Assert.Equal(CorpusTrainingOptions.PretrainingLearningRate, new PretrainOptions { Config = "base", Data = "d", Tokens = 1, Out = "o" }.LearningRate);
        // Pre-training keeps its own 5 % warm-up and decay.
        var p = new PretrainOptions { Config = "base", Data = "d", Tokens = 1, Out = "o" };
        Assert.Equal(73, p.WarmupSteps(1465));
        Assert.Equal(0.1, p.MinLrRatio);
        Assert.Equal(0.1, p.WeightDecay);
    }

    /// <summary>A default run, BF16 in and out (the shipped models' dtype, and alignment's default save dtype): the
    /// untied LM head is the pruned model's, byte for byte, while the other weights moved.</summary>
    [Fact]
    public void A_default_alignment_leaves_the_lm_head_bit_for_bit()
    {
        var src = Path.Combine(_dir.Path, "bf16");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 3, Hidden = 32, Heads = 4, KvHeads = 2, Intermediate = 64, Tied = false, DType = Tensors.DType.BF16 });
        var pruned = Path.Combine(_dir.Path, "bf16-pruned");
        ModelPruner.Run(new PruneOptions { Model = src, Out = pruned, Method = PruningMethod.Rand, Ratio = 0.5, KeepFirst = 1, KeepLast = 1 }, _cpu);
        var corpus = Path.Combine(_dir.Path, "corpus.txt");
        PlainTextCorpus.Write(corpus, new CorpusGenerator(World.Generate(3), 3).Documents(20_000));
        var report = Alignment.Run(new AlignmentOptions
        {
            Model = pruned, Data = corpus, Tokens = 1024, Out = Path.Combine(_dir.Path, "bf16-aligned"), SeqLen = 32, Batch = 4, EvalSequences = 0,
        }, _cpu, LineProgress.None);

        using var before = SafetensorsFile.Open(Path.Combine(pruned, ModelFolder.Weights));
        using var after = SafetensorsFile.Open(Path.Combine(report.Out, ModelFolder.Weights));
        Assert.Equal(Tensors.DType.BF16, after[LlamaTensorNames.LmHead].DType);
        Assert.True(before.RawBytes(LlamaTensorNames.LmHead).SequenceEqual(after.RawBytes(LlamaTensorNames.LmHead)), "lm_head changed");
        Assert.False(report.WeightChange!.ContainsKey(LlamaTensorNames.LmHead));
        Assert.False(before.RawBytes(LlamaTensorNames.Embedding).SequenceEqual(after.RawBytes(LlamaTensorNames.Embedding)), "the embedding did not train");
        Assert.Equal(3.33e-4, report.Lr, 12);
    }
}
