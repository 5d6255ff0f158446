using LoRAM.Data;
using LoRAM.Llama;
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
}
