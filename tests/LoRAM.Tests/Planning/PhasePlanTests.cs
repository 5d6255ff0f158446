using LoRAM.Autograd;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tests.Support;
using LoRAM.Lora;
using LoRAM.Planning;
using LoRAM.Pruning;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Training;
using LoRAM.Training;
using static LoRAM.Tests.Pruning.ModelFixtures;

namespace LoRAM.Tests.Planning;

/// <summary><c>loram plan</c>'s per-phase peaks against what the code measures: the train phase against the
/// Trainer's MemoryLedger, the prune phase against the backend's peak while the lean Taylor path runs.</summary>
public class PhasePlanTests
{
    private static void Within(double tolerance, long predicted, long measured, string what)
    {
        Assert.True(Math.Abs(predicted - measured) <= tolerance * measured, $"{what}: plan {predicted:N0} B, measured {measured:N0} B ({(double)predicted / measured - 1:P1})");
    }

    [Theory]
    [InlineData(2, 32, 64, 2, 8, false)]
    [InlineData(3, 48, 96, 2, 4, true)]
    [InlineData(2, 64, 128, 4, 16, false)]
    public void Train_phase_prediction_is_within_15_percent_of_the_ledgers_peak(int layers, int hidden, int seqLen, int microBatch, int rank, bool checkpoint)
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = layers, Hidden = hidden, Heads = 4, KvHeads = 2, Intermediate = 2 * hidden, MaxPositions = 256, Seed = 3 });
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions { CheckpointLayers = checkpoint });
        using var adapter = LoraAdapter.Attach(model, new LoraSettings { Rank = rank }, seed: 1);
        var ledger = new MemoryLedger();
        model.RegisterMemory(ledger);
        var trainable = new TrainableModel { Parameters = adapter.Parameters().ToList(), Forward = (tape, ids) => model.Forward(tape, ids), WriteFolderFiles = _ => { } };
        var options = TinyTraining.Options(dir.File("out"), 2) with { BatchSequences = 2 * microBatch, MicroBatchSequences = microBatch };
        using (var trainer = new Trainer(cpu, trainable, new PackedCorpus(TinyTraining.Stream(), seqLen, 1), options, ledger))
            trainer.Run();

        var plan = PhasePlan.Train(config, new PhaseOptions { SeqLen = seqLen, MicroBatch = microBatch, Rank = rank, CheckpointLayers = checkpoint, Stored = DType.F32 });
        Within(0.15, plan.Activations, ledger.Peak(MemoryCategory.Activations), "activations");
        Assert.Equal(plan.Trainable, ledger.Peak(MemoryCategory.TrainableParams));
        Assert.Equal(plan.Gradients, ledger.Peak(MemoryCategory.Gradients));
        Assert.Equal(plan.OptimizerState, ledger.Peak(MemoryCategory.OptimizerState));
        long measured = Enum.GetValues<MemoryCategory>().Sum(ledger.Peak);
        Within(0.15, plan.LedgerTotal, measured, "total");
    }

    [Theory]
    [InlineData(AlignedWeights.All, false)]
    [InlineData(AlignedWeights.AllButLmHead, false)]
    [InlineData(AlignedWeights.AllButLmHead, true)]
    [InlineData(AlignedWeights.PrunedLayers, true)]
    public void Align_phase_prediction_counts_only_the_trained_weights_and_is_within_15_percent_of_the_ledger(AlignedWeights weights, bool checkpoint)
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 4, Hidden = 64, Heads = 4, KvHeads = 2, Intermediate = 128, MaxPositions = 256, Tied = false, DType = DType.BF16, Seed = 6 });
        var plan = ParameterPlan.For(config, PruningMethod.Stru, 0.5, null, keepFirst: 1, keepLast: 1);   // layers 1 and 2 "pruned"
        var trains = PhasePlan.AlignTrains(plan, weights);
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu, new LlamaModelOptions { Trainable = true, TrainedWeights = trains, CheckpointLayers = checkpoint });
        var ledger = new MemoryLedger();
        model.RegisterMemory(ledger);
        var trainable = new TrainableModel { Parameters = model.Parameters().ToList(), Forward = (tape, ids) => model.Forward(tape, ids), WriteFolderFiles = _ => { } };
        var options = TinyTraining.Options(dir.File("out"), 2) with { BatchSequences = 4, MicroBatchSequences = 2 };
        using (var trainer = new Trainer(cpu, trainable, new PackedCorpus(TinyTraining.Stream(), 64, 1), options, ledger))
            trainer.Run();

        // The phase plan of the model as it is (unpruned here: the test checks the accounting, not the pruning).
        var predicted = PhasePlan.Align(config, new PhaseOptions { SeqLen = 64, MicroBatch = 2, CheckpointLayers = checkpoint }, trains);
        Assert.Equal(predicted.Trainable, ledger.Peak(MemoryCategory.TrainableParams));
        Assert.Equal(predicted.Gradients, ledger.Peak(MemoryCategory.Gradients));
        Assert.Equal(predicted.OptimizerState, ledger.Peak(MemoryCategory.OptimizerState));
        Assert.Equal(predicted.FrozenStored, ledger.Peak(MemoryCategory.FrozenBF16));
        Assert.Equal(predicted.FrozenF32, ledger.Peak(MemoryCategory.FrozenF32));
        Within(0.15, predicted.Activations, ledger.Peak(MemoryCategory.Activations), "activations");
        Within(0.15, predicted.LedgerTotal, Enum.GetValues<MemoryCategory>().Sum(ledger.Peak), "total");
    }

    [Theory]
    [InlineData(2, 32, 6, 32, 2)]
    [InlineData(3, 64, 8, 48, 4)]
    [InlineData(2, 48, 5, 64, 2)]
    [InlineData(4, 32, 6, 32, 2)]
    [InlineData(2, 32, 6, 32, 6)]
    public void Prune_phase_prediction_is_within_15_percent_of_the_lean_Taylor_peak(int layers, int hidden, int samples, int seqLen, int batch)
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = layers, Hidden = hidden, Heads = 4, KvHeads = 2, Intermediate = 3 * hidden, MaxPositions = 256, Seed = 4 });
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(dir.Path, cpu);
        long before = cpu.Memory.LiveBytes;
        TaylorImportance.ComputeLean(model, RandomSamples(samples, seqLen + 1, seed: 5), TaylorVariant.Element, batch);
        long measured = cpu.Memory.PeakLiveBytes - before;

        var plan = PhasePlan.Prune(config, new PhaseOptions { CalibrationSamples = samples, CalibrationSeqLen = seqLen, CalibrationBatch = batch, Stored = DType.F32 });
        Within(0.15, plan.Activations + plan.Workspace, measured, "lean Taylor activations + dW");
        Assert.Equal(model.WeightBytes(), plan.FrozenStored + plan.FrozenF32);
    }
}
