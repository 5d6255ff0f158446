using LoRAM.Llama.Tests.Support;
using LoRAM.Autograd;
using LoRAM.Data;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Lora;
using LoRAM.Progress;
using LoRAM.Quantization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;
using LoRAM.Training;

namespace LoRAM.Tests.Training;

public sealed class LoraTrainingTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly CpuBackend _cpu = new(1);

    public void Dispose()
    {
        _cpu.Dispose();
        _dir.Dispose();
    }

    private string Instructions(int count, string name = "instructions.jsonl")
    {
        var path = Path.Combine(_dir.Path, name);
        AlpacaFile.Write(path, new InstructionGenerator(World.Generate(3), 3).Generate(count));
        return path;
    }

    private string Model()
    {
        var folder = Path.Combine(_dir.Path, "model");
        if (!Directory.Exists(folder)) RandomLlama.Write(folder, RandomLlama.Config(hidden: 64, intermediate: 128));
        return folder;
    }

    [Fact]
    public void Instruction_batches_train_on_response_tokens_only_and_pad_on_the_right()
    {
        var records = new[] { new InstructionRecord("Say hi.", "", "Hi!"), new InstructionRecord("A much longer instruction here.", "x", "Ok") };
        var tokenizer = new ByteTokenizer();
        var batches = new InstructionBatches(records, tokenizer, 512, seed: 1);
        var b = batches.Next(2);
        Assert.Equal(2, b.Sequences);
        // Each row's trained targets, in order, are exactly its response bytes and EOS.
        var trained = Enumerable.Range(0, 2).Select(s => b.Targets.Skip(s * b.Length).Take(b.Length).Where(t => t != Ops.IgnoreIndex).ToArray()).ToList();
        Assert.Contains(trained, t => t.SequenceEqual([.. "Hi!"u8.ToArray().Select(x => (int)x), 257]));
        Assert.Contains(trained, t => t.SequenceEqual([.. "Ok"u8.ToArray().Select(x => (int)x), 257]));
        Assert.Equal(4 + 3, b.TrainedTokens);
        // The shorter row is padded with the pad id after its last real token, and padding is never a target.
        int shortRow = trained.FindIndex(t => t.Length == 4);
        var row = b.Inputs.Skip(shortRow * b.Length).Take(b.Length).ToArray();
        Assert.Equal(258, row[^1]);
        Assert.Equal(Ops.IgnoreIndex, b.Targets[shortRow * b.Length + b.Length - 1]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Lora_sft_lowers_the_response_loss_and_writes_a_loadable_adapter(bool nf4)
    {
        var outDir = Path.Combine(_dir.Path, nf4 ? "out-nf4" : "out");
        var report = LoraTraining.Run(new LoraTrainingOptions
        {
            Model = Model(), Data = Instructions(64), Out = outDir, Steps = 16, Batch = 4, MicroBatch = 2, MaxLength = 256,
            LearningRate = 1e-2, Nf4 = nf4, Eval = Instructions(8, "eval.jsonl"), EvalEvery = 8, EvalItems = 8, LogEvery = 100,
        }, _cpu, LineProgress.None);
        Assert.True(report.Completed);
        double first = report.FirstLoss, last = report.FinalLoss;
        Assert.True(last < 0.9 * first, $"loss {first:F3} → {last:F3}");
        Assert.Equal(nf4, report.Nf4);
        Assert.True(File.Exists(Path.Combine(outDir, "loss.csv")));

        using var model = LlamaModel.Load(Model(), _cpu);
        using var adapter = LoraAdapter.Load(outDir, model);
        Assert.Equal(2 * 7, adapter.Layers.Count);
        Assert.Equal(report.AdapterParameters, adapter.ParameterCount);
        Assert.Contains(adapter.Layers, l => l.Layer.B.Value.ToFloatArray().Any(v => v != 0));   // B moved off zero
    }

    [Fact]
    public void An_interrupted_and_resumed_run_gives_the_same_adapter_bit_for_bit()
    {
        var data = Instructions(40);
        LoraTrainingOptions Options(string outDir) => new()
        {
            Model = Model(), Data = data, Out = outDir, Steps = 8, Batch = 4, MicroBatch = 2, MaxLength = 256, LearningRate = 5e-3,
            CheckpointEvery = 4, LogEvery = 100, Lora = new LoraSettings { Dropout = 0.1f },
        };
        string straight = Path.Combine(_dir.Path, "straight"), resumed = Path.Combine(_dir.Path, "resumed");
        LoraTraining.Run(Options(straight), _cpu, LineProgress.None);
        var stopped = LoraTraining.Run(Options(resumed) with { StopAfterStep = 4 }, _cpu, LineProgress.None);
        Assert.False(stopped.Completed);
        LoraTraining.Run(Options(resumed) with { Resume = true }, _cpu, LineProgress.None);
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, PeftAdapterFormat.WeightsFile)), File.ReadAllBytes(Path.Combine(resumed, PeftAdapterFormat.WeightsFile)));
        // Step, tokens, loss, lr and gradient norm agree exactly (the remaining columns are timings).
        static IEnumerable<string> Curve(string dir) => File.ReadAllLines(Path.Combine(dir, "loss.csv")).Select(l => string.Join(',', l.Split(',').Take(5)));
        Assert.Equal(Curve(straight), Curve(resumed));
    }

    [Fact]
    public void Nf4_projection_quantization_keeps_the_model_close_and_cuts_projection_bytes_to_about_4_5_bits()
    {
        using var model = LlamaModel.Load(Model(), _cpu);
        using var ids = Tensor.FromArray(_cpu, Enumerable.Range(0, 20).Select(i => (i * 37) % 256).ToArray(), 1, 20);
        float[] Logits()
        {
            using var tape = new Tape(_cpu);
            using var _ = tape.NoGrad();
            return model.Forward(tape, ids).Value.ToFloatArray();
        }
        var before = Logits();
        var (bf16, nf4) = ProjectionQuantizer.QuantizeProjections(model);
        Assert.InRange(8.0 * nf4 / (bf16 / 2.0), 4.49, 4.51);   // 4 bits + one F32 absmax per 64 weights
        Assert.All(model.Layers.SelectMany(l => l.Projections), p => Assert.IsType<Nf4FrozenWeight>(p.Layer.Frozen));
        var after = Logits();
        double diff = before.Zip(after, (a, b) => Math.Abs(a - b)).Max(), scale = before.Max(Math.Abs);
        Assert.InRange(diff / scale, 1e-4, 0.2);
    }
}
