using LoRAM.Llama.Generation;
using Xunit;

namespace LoRAM.Llama.Tests.Generation;

public class SamplerTests
{
    private static readonly float[] Logits = [1.0f, 3.0f, 2.0f, -1.0f, 2.5f];

    private static double[] Frequencies(SamplingOptions options, int draws)
    {
        var sampler = new Sampler(options);
        var counts = new double[Logits.Length];
        for (int i = 0; i < draws; i++) counts[sampler.Next(Logits)]++;
        return counts.Select(c => c / draws).ToArray();
    }

    private static double[] Softmax(float[] logits, double t)
    {
        var e = logits.Select(l => Math.Exp(l / t)).ToArray();
        return e.Select(x => x / e.Sum()).ToArray();
    }

    [Fact]
    public void Greedy_picks_the_largest_logit_and_the_first_on_ties()
    {
        Assert.Equal(1, new Sampler(SamplingOptions.Greedy).Next(Logits));
        Assert.Equal(0, Sampler.ArgMax([2f, 2f, 1f]));
    }

    [Fact]
    public void Temperature_sampling_follows_the_softmax_of_logits_over_T()
    {
        var freq = Frequencies(new SamplingOptions(Temperature: 0.7f, Seed: 3), 60_000);
        var expected = Softmax(Logits, 0.7);
        // Binomial standard error at 60k draws is below 0.002; allow 4 sigma.
        for (int i = 0; i < Logits.Length; i++) Assert.InRange(freq[i], expected[i] - 0.008, expected[i] + 0.008);
    }

    [Fact]
    public void Top_k_never_draws_outside_the_k_most_likely_and_renormalises()
    {
        var freq = Frequencies(new SamplingOptions(Temperature: 1f, TopK: 2, Seed: 5), 40_000);
        Assert.Equal(0, freq[0]); Assert.Equal(0, freq[2]); Assert.Equal(0, freq[3]);
        double p1 = Math.Exp(3) / (Math.Exp(3) + Math.Exp(2.5));
        Assert.InRange(freq[1], p1 - 0.01, p1 + 0.01);
    }

    [Fact]
    public void Top_p_keeps_the_shortest_prefix_whose_mass_reaches_p()
    {
        var p = Softmax(Logits, 1);   // sorted: id1 0.44, id4 0.27, id2 0.16, id0 0.06, id3 0.01
        float topP = (float)(p[1] + p[4] + 0.01);   // needs the third token (id2) to reach it
        var freq = Frequencies(new SamplingOptions(Temperature: 1f, TopP: topP, Seed: 9), 40_000);
        Assert.Equal(0, freq[0]); Assert.Equal(0, freq[3]);
        Assert.True(freq[2] > 0.1);

        var onlyTop = Frequencies(new SamplingOptions(Temperature: 1f, TopP: 0.2f, Seed: 9), 1000);
        Assert.Equal(1.0, onlyTop[1]);
    }

    [Fact]
    public void The_same_seed_gives_the_same_stream()
    {
        var a = new Sampler(new SamplingOptions(Temperature: 1.3f, TopP: 0.9f, Seed: 42));
        var b = new Sampler(new SamplingOptions(Temperature: 1.3f, TopP: 0.9f, Seed: 42));
        for (int i = 0; i < 200; i++) Assert.Equal(a.Next(Logits), b.Next(Logits));
    }

    [Theory]
    [InlineData(-1f, 0, 1f)]
    [InlineData(1f, -2, 1f)]
    [InlineData(1f, 0, 0f)]
    [InlineData(1f, 0, 1.5f)]
    public void Invalid_options_are_rejected(float t, int k, float p) =>
        Assert.Throws<ArgumentException>(() => new Sampler(new SamplingOptions(t, k, p)));
}
