using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Training;

namespace LoRAM.Tests.Training;

/// <summary>The shared trainer as a specification: it learns, it resumes exactly, accumulation is the big batch,
/// checkpoints are all-or-nothing, and a NaN stops it before any damage.</summary>
public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-trainer-").FullName;
    private readonly CpuBackend _cpu = new(1);

    public void Dispose()
    {
        _cpu.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string Out(string name) => Path.Combine(_dir, name);

    [Fact]
    public void Loss_falls_below_half_of_its_start_in_40_steps_on_a_tiny_corpus()
    {
        using var model = TinyTraining.Model(_cpu);
        var data = new PackedCorpus(TinyTraining.Stream(), 32, seed: 1);
        using var trainer = new Trainer(_cpu, TinyTraining.Trainable(model), data, TinyTraining.Options(Out("a"), 40) with { CheckpointEvery = 0 });
        var summary = trainer.Run();
        double first = trainer.Curve[0].Loss, last = trainer.Curve.TakeLast(5).Average(r => r.Loss);
        // Untrained, the loss is about ln 259 = 5.56; the corpus is repetitive enough to halve it in 40 steps.
        Assert.InRange(first, 5.0, 6.0);
        Assert.True(last < 0.5 * first, $"loss {first:F3} → {last:F3}");
        Assert.Equal(40 * 4 * 32, summary.TokensSeen);
        Assert.Equal(41, File.ReadAllLines(Path.Combine(Out("a"), LossCurve.FileName)).Length);   // header + one row a step
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Stopped_and_resumed_run_equals_the_uninterrupted_run_bit_for_bit(int threads)
    {
        using var cpu = new CpuBackend(threads);   // the kernels split work the same way every time: no thread-count nondeterminism
        var stream = TinyTraining.Stream();
        const int steps = 12;
        float[][] expected;
        List<StepRecord> expectedCurve;
        using (var model = TinyTraining.Model(cpu))
        using (var trainer = new Trainer(cpu, TinyTraining.Trainable(model), new PackedCorpus(stream, 32, 7), TinyTraining.Options(Out($"full{threads}"), steps) with { CheckpointEvery = 4 }))
        {
            trainer.Run();
            expected = TinyTraining.Weights(model);
            expectedCurve = trainer.Curve.ToList();
        }

        // The same run, "killed" at step 6: the step-4 checkpoint survives, steps 5–6 are lost.
        var options = TinyTraining.Options(Out($"split{threads}"), steps) with { CheckpointEvery = 4 };
        using (var model = TinyTraining.Model(cpu))
        using (var trainer = new Trainer(cpu, TinyTraining.Trainable(model), new PackedCorpus(stream, 32, 7), options with { StopAfterStep = 6 }))
            Assert.Equal(6, trainer.Run().Steps);

        // A fresh process: another initialisation (so everything must come from the checkpoint), resumed from step 4.
        using (var model = TinyTraining.Model(cpu, seed: 99))
        using (var trainer = new Trainer(cpu, TinyTraining.Trainable(model), new PackedCorpus(stream, 32, 7), options))
        {
            var latest = TrainingCheckpoint.Latest(trainer.CheckpointsFolder)!;
            Assert.EndsWith(TrainingCheckpoint.NameOf(4), latest);
            trainer.ResumeFrom(latest);
            trainer.Run();
            var actual = TinyTraining.Weights(model);
            for (int p = 0; p < expected.Length; p++) Assert.Equal(expected[p], actual[p]);   // exact float equality
            Assert.Equal(expectedCurve.Select(r => (r.Step, r.Tokens, r.Loss, r.LearningRate, r.GradNorm)),
                         trainer.Curve.Select(r => (r.Step, r.Tokens, r.Loss, r.LearningRate, r.GradNorm)));
        }
        var written = LossCurve.Read(Path.Combine(Out($"split{threads}"), LossCurve.FileName));
        Assert.Equal(expectedCurve.Select(r => r.Loss), written.Select(r => r.Loss));
    }

    [Fact]
    public void Two_micro_batches_of_one_give_the_gradient_of_one_batch_of_two()
    {
        using var model = TinyTraining.Model(_cpu);
        var data = new PackedCorpus(TinyTraining.Stream(), 32, seed: 3);
        var batch = data.Next(2);
        TokenBatch Half(int s) => new(batch.Inputs[(s * 32)..((s + 1) * 32)], batch.Targets[(s * 32)..((s + 1) * 32)], 1, 32);
        using var trainer = new Trainer(_cpu, TinyTraining.Trainable(model), data, TinyTraining.Options(Out("acc"), 1));

        double whole = trainer.AccumulateGradients([batch], 1);
        var g1 = model.Parameters().Select(p => p.Grad!.ToFloatArray()).ToArray();
        double split = trainer.AccumulateGradients([Half(0), Half(1)], 1);
        var g2 = model.Parameters().Select(p => p.Grad!.ToFloatArray()).ToArray();

        Assert.Equal(whole, split, 1e-6);
        // Only the summation order differs (two GEMMs over 32 rows, added, vs one over 64): float32 rounding,
        // bounded here by 1e-5 of each parameter's largest gradient.
        for (int p = 0; p < g1.Length; p++)
        {
            float scale = g1[p].Max(Math.Abs);
            for (int i = 0; i < g1[p].Length; i++)
                Assert.True(Math.Abs(g1[p][i] - g2[p][i]) <= 1e-5f * scale, $"parameter {p}[{i}]: {g1[p][i]} vs {g2[p][i]}");
        }
    }

    [Fact]
    public void A_save_that_fails_midway_leaves_the_previous_checkpoint_complete_and_loadable()
    {
        var stream = TinyTraining.Stream();
        var options = TinyTraining.Options(Out("fail"), 6) with { CheckpointEvery = 2 };
        float[][] atStep2 = [];
        using (var model = TinyTraining.Model(_cpu))
        using (var trainer = new Trainer(_cpu, TinyTraining.Trainable(model), new PackedCorpus(stream, 32, 1), options))
        {
            trainer.AfterStep = r => { if (r.Step == 2) atStep2 = TinyTraining.Weights(model); };
            trainer.CheckpointFault = tmp =>
            {
                if (tmp.EndsWith(TrainingCheckpoint.NameOf(4))) throw new IOException("simulated disk failure while saving");
            };
            var e = Assert.Throws<IOException>(() => trainer.Run());
            Assert.Contains("simulated", e.Message);
            Assert.Equal(4, trainer.Step);
        }
        var folders = Directory.GetDirectories(Path.Combine(Out("fail"), TrainingCheckpoint.FolderName)).Select(Path.GetFileName);
        Assert.Equal([TrainingCheckpoint.NameOf(2)], folders);   // no half-written step-4, no leftover temporary folder

        // The survivor is a complete Hugging Face folder with the step-2 weights, and training resumes from it.
        string step2 = TrainingCheckpoint.Latest(Path.Combine(Out("fail"), TrainingCheckpoint.FolderName))!;
        using (var loaded = LlamaModel.Load(step2, _cpu, new LlamaModelOptions { Trainable = true }))
        {
            var w = TinyTraining.Weights(loaded);
            for (int p = 0; p < w.Length; p++) Assert.Equal(atStep2[p], w[p]);
        }
        using (var model = TinyTraining.Model(_cpu, seed: 5))
        using (var trainer = new Trainer(_cpu, TinyTraining.Trainable(model), new PackedCorpus(stream, 32, 1), options))
        {
            trainer.ResumeFrom(step2);
            Assert.Equal(6, trainer.Run().Steps);
        }
    }

    [Fact]
    public void A_nan_loss_stops_training_before_the_update_and_names_the_last_good_checkpoint()
    {
        using var model = TinyTraining.Model(_cpu);
        var options = TinyTraining.Options(Out("nan"), 10) with { CheckpointEvery = 2 };
        using var trainer = new Trainer(_cpu, TinyTraining.Trainable(model), new PackedCorpus(TinyTraining.Stream(), 32, 1), options);
        float[][] poisoned = [];
        trainer.AfterStep = r =>
        {
            if (r.Step != 3) return;
            var nan = Enumerable.Repeat(float.NaN, model.Config.HiddenSize).ToArray();   // a diverged norm gain
            _cpu.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(nan.AsSpan()), model.FinalNorm.Value);
            poisoned = TinyTraining.Weights(model);
        };
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        Assert.Equal(4, e.Step);
        Assert.Contains("loss is NaN", e.Message);
        Assert.EndsWith(TrainingCheckpoint.NameOf(2), e.LastCheckpoint);
        Assert.Contains(e.LastCheckpoint!, e.Message);
        Assert.Equal(3, trainer.Step);
        // No update happened at step 4: the weights are exactly as they were, and no checkpoint was written for it.
        var now = TinyTraining.Weights(model);
        for (int p = 0; p < now.Length; p++) Assert.Equal(poisoned[p], now[p]);
        Assert.Equal([2], TrainingCheckpoint.List(trainer.CheckpointsFolder).Select(c => c.Step));
        Assert.All(model.Parameters(), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void Resume_refuses_a_higher_lr_or_shorter_warmup_and_allows_the_recovery_moves()
    {
        var stream = TinyTraining.Stream();
        var options = TinyTraining.Options(Out("opt"), 4) with { StopAfterStep = 2, CheckpointEvery = 1 };
        using (var model = TinyTraining.Model(_cpu))
        using (var trainer = new Trainer(_cpu, TinyTraining.Trainable(model), new PackedCorpus(stream, 32, 1), options))
            trainer.Run();
        void Resume(TrainerOptions o)
        {
            using var model = TinyTraining.Model(_cpu);
            using var trainer = new Trainer(_cpu, TinyTraining.Trainable(model), new PackedCorpus(stream, 32, 1), o);
            trainer.ResumeFrom(TrainingCheckpoint.Latest(trainer.CheckpointsFolder)!);
            Assert.Equal(2, trainer.Step);
        }
        var e = Assert.Throws<ArgumentException>(() => Resume(options with { LearningRate = 2e-2 }));
        Assert.StartsWith("--lr is 0.02 here but 0.01 in the checkpoint ", e.Message);
        e = Assert.Throws<ArgumentException>(() => Resume(options with { WarmupSteps = 1 }));
        Assert.StartsWith("--warmup is 1 here but 2 in the checkpoint ", e.Message);
        e = Assert.Throws<ArgumentException>(() => Resume(options with { MicroBatchSequences = 1 }));
        Assert.StartsWith("--micro-batch is 1 here but 2 in the checkpoint ", e.Message);
        Resume(options with { LearningRate = 5e-3, WarmupSteps = 3, CheckpointEvery = 3, LogEvery = 7, TimeLimit = TimeSpan.FromHours(1) });
    }
}
