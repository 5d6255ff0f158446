using System.Text.Json;
using LoRAM.Autograd;
using LoRAM.Data;
using LoRAM.Evaluation;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Evaluation;

public sealed class BenchmarksTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-bench-").FullName;
    private readonly CpuBackend _cpu = new(1);
    private readonly ByteTokenizer _bytes = new();

    public void Dispose()
    {
        _cpu.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private LlamaModel Model()
    {
        var folder = Path.Combine(_dir, "model");
        if (!Directory.Exists(folder)) RandomLlama.Write(folder, dtype: DType.F32);
        return LlamaModel.Load(folder, _cpu);
    }

    /// <summary>log p(tokens[i] | tokens[..i]) for every i ≥ 1, by one unbatched forward pass and a float64 log-softmax.</summary>
    private double[] LogProbs(LlamaModel model, int[] tokens)
    {
        using var tape = new Tape(_cpu);
        using var _ = tape.NoGrad();
        using var ids = Tensor.FromArray(_cpu, tokens, 1, tokens.Length);
        var logits = model.Forward(tape, ids).Value.ToFloatArray();
        int v = model.Config.VocabSize;
        var result = new double[tokens.Length];
        for (int i = 1; i < tokens.Length; i++)
        {
            var row = logits.AsSpan((i - 1) * v, v).ToArray().Select(x => (double)x).ToArray();
            double max = row.Max(), lse = max + Math.Log(row.Sum(x => Math.Exp(x - max)));
            result[i] = row[tokens[i]] - lse;
        }
        return result;
    }

    [Fact]
    public void Instruction_tokens_keep_bos_the_whole_response_and_eos_when_cut()
    {
        var example = new InstructionExample(new string('p', 50), "answer");
        var full = InstructionTokens.Encode(_bytes, example, 512);
        Assert.Equal(1 + 50 + 6 + 1, full.Ids.Length);
        Assert.Equal(51, full.ResponseStart);
        var cut = InstructionTokens.Encode(_bytes, example, 20);
        Assert.Equal(20, cut.Ids.Length);
        Assert.Equal(256, cut.Ids[0]);
        Assert.Equal([.. "answer"u8.ToArray().Select(b => (int)b), 257], cut.Ids[cut.ResponseStart..]);
    }

    [Fact]
    public void Instruction_perplexity_scores_only_the_response_tokens()
    {
        using var model = Model();
        var records = new[] { new InstructionRecord("Say hi.", "", "Hi there!"), new InstructionRecord("Add 2 and 3.", "numbers", "5") };
        var score = Benchmarks.InstructionPerplexity(model, _bytes, records, batchSize: 2);
        double nll = 0;
        long count = 0;
        foreach (var r in records)
        {
            var t = InstructionTokens.Encode(_bytes, r.ToExample(), 512);
            var lp = LogProbs(model, t.Ids);
            for (int i = t.ResponseStart; i < t.Ids.Length; i++) { nll -= lp[i]; count++; }
        }
        Assert.Equal("Hi there!".Length + 1 + 1 + 1, count);   // responses plus EOS each
        Assert.Equal(count, score.Tokens);
        Assert.Equal(nll / count, score.MeanNll, 1e-5);
    }

    [Fact]
    public void Multiple_choice_picks_by_summed_and_by_per_byte_log_likelihood()
    {
        using var model = Model();
        var rng = new Random(3);
        var items = Enumerable.Range(0, 6).Select(i => new MultipleChoiceItem($"Where is item {i}?",
            ["in the box", "on a long shelf near the door", "x", $"under bed {i}"], rng.Next(4))).ToList();
        var score = Benchmarks.MultipleChoice(model, _bytes, items, batchSize: 3);

        int right = 0, rightNorm = 0;
        foreach (var item in items)
        {
            var context = _bytes.Encode($"Question: {item.Question}\nAnswer:");
            var ll = item.Choices.Select(c =>
            {
                var lp = LogProbs(model, [.. context, .. _bytes.Encode(" " + c, addBos: false)]);
                return lp[context.Length..].Sum();
            }).ToArray();
            var norm = ll.Select((l, c) => l / (item.Choices[c].Length + 1)).ToArray();
            if (Array.IndexOf(ll, ll.Max()) == item.Label) right++;
            if (Array.IndexOf(norm, norm.Max()) == item.Label) rightNorm++;
        }
        Assert.Equal(6, score.Items);
        Assert.Equal(right / 6.0, score.Accuracy, 12);
        Assert.Equal(rightNorm / 6.0, score.AccuracyNorm, 12);
    }
}
