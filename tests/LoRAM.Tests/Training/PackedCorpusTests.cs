using LoRAM.Llama.Tokenization;
using LoRAM.Tensors.Cpu;
using LoRAM.Training;

namespace LoRAM.Tests.Training;

public class PackedCorpusTests
{
    [Fact]
    public void Documents_are_packed_as_bos_text_eos_and_targets_are_inputs_shifted_by_one()
    {
        var stream = PackedCorpus.Tokenize(["ab", "c"], new ByteTokenizer());
        Assert.Equal([256, 'a', 'b', 257, 256, 'c', 257], stream);
        var corpus = new PackedCorpus(stream, 3, seed: 1);
        Assert.Equal(2, corpus.TrainingWindows);   // (7 − 1) / 3
        var b = corpus.Next(2);
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < 2; i++) Assert.Equal(b.Targets[s * 3 + i], b.Inputs[s * 3 + i + 1]);
        Assert.Equal(6, b.TrainedTokens);
    }

    [Fact]
    public void Each_epoch_visits_every_training_window_once_in_a_seeded_order_and_never_a_held_out_one()
    {
        var stream = Enumerable.Range(0, 1001).Select(i => i % 250).ToArray();
        var corpus = new PackedCorpus(stream, 10, seed: 4, heldOutWindows: 5);
        Assert.Equal(95, corpus.TrainingWindows);
        var firstTokens = Enumerable.Range(0, 95).Select(_ => corpus.Next(1).Inputs[0]).ToList();
        var windowStarts = Enumerable.Range(0, 95).Select(w => stream[w * 10]).ToList();
        Assert.Equal(windowStarts.Order(), firstTokens.Order());
        Assert.NotEqual(windowStarts, firstTokens);   // shuffled
        Assert.Equal((0, 95), (corpus.Epoch, corpus.Index));
        corpus.Next(1);
        Assert.Equal((1, 1), (corpus.Epoch, corpus.Index));   // the next epoch starts lazily, with a new order
        var heldOut = corpus.HeldOut(2).ToList();
        Assert.Equal([2, 2, 1], heldOut.Select(b => b.Sequences));
        Assert.Equal(stream[950], heldOut[0].Inputs[0]);
    }

    [Fact]
    public void A_saved_position_continues_with_the_same_batches()
    {
        var stream = Enumerable.Range(0, 2001).Select(i => (i * 7) % 256).ToArray();
        var a = new PackedCorpus(stream, 16, seed: 9);
        for (int i = 0; i < 150; i++) a.Next(1);   // into the second epoch (124 windows)
        var state = a.SaveState();
        var expected = Enumerable.Range(0, 5).Select(_ => a.Next(3).Inputs).ToList();
        var b = new PackedCorpus(stream, 16, seed: 9);
        b.LoadState(state);
        Assert.Equal(expected, Enumerable.Range(0, 5).Select(_ => b.Next(3).Inputs).ToList());
        var other = new PackedCorpus(stream, 16, seed: 10);
        Assert.Throws<ArgumentException>(() => other.LoadState(state));
    }

    [Fact]
    public void Initialisation_is_seeded_normal_with_std_0_02_and_unit_norm_gains()
    {
        using var cpu = new CpuBackend(1);
        var config = TinyTraining.Config();
        using var a = LlamaInitializer.Create(config, cpu, 1);
        using var b = LlamaInitializer.Create(config, cpu, 1);
        using var c = LlamaInitializer.Create(config, cpu, 2);
        var emb = a.Embedding.ToFloatArray();
        double mean = emb.Average(v => (double)v), std = Math.Sqrt(emb.Average(v => (double)v * v) - mean * mean);
        Assert.InRange(mean, -0.002, 0.002);    // 8,288 draws: the mean's standard error is 0.0002
        Assert.InRange(std, 0.019, 0.021);
        Assert.Equal(emb, b.Embedding.ToFloatArray());
        Assert.NotEqual(emb, c.Embedding.ToFloatArray());
        Assert.All(a[LoRAM.Llama.LlamaTensorNames.FinalNorm].ToFloatArray(), v => Assert.Equal(1f, v));
    }
}
