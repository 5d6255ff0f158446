using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Lora;
using LoRAM.Progress;
using LoRAM.Pruning;
using LoRAM.Tensors;

namespace LoRAM.Training;

/// <summary>Which weights of the pruned model alignment trains.</summary>
public enum AlignedWeights
{
    /// <summary>Every weight: embeddings, norms, every layer, the LM head.</summary>
    All,
    /// <summary>Every weight but an untied LM head — the official LoRAM alignment script's choice (a tied head is the
    /// embedding and trains with it, as in Hugging Face, where the tied parameter is named for the embedding).</summary>
    AllButLmHead,
    /// <summary>Only the weights of the layers pruning changed (their norms and projections).</summary>
    PrunedLayers,
}

/// <summary>
/// What <c>loram align</c> is told: the pruned model and the corpus schedule. The defaults are the official LoRAM
/// alignment script's recipe (junzhang-zj/LoRAM, loram/1_pruned_full_rank_weight_alignment.py: every weight but the LM
/// head trains; AdamW at lr 5e-5, 100 warm-up steps of 1,600, cosine decay to 0, no weight decay, gradient-norm clip
/// 1, batch 128 × 512 tokens) scaled to our step counts and models:
/// <list type="bullet">
/// <item>warm-up: the same fraction of the steps, 100 / 1,600 = 1/16;</item>
/// <item>cosine to 0 (<see cref="CorpusTrainingOptions.MinLrRatio"/> = 0) and weight decay 0, as there;</item>
/// <item>learning rate: the official one relative to the model's own pre-training peak. 5e-5 is 1/6 of LLaMA-2-13B's
/// (and 7B's) pre-training peak of 3e-4 (Touvron et al. 2023, Table 1), the paper's main base model; 1/6 of our
/// pre-training peak, 2e-3 (<see cref="CorpusTrainingOptions.PretrainingLearningRate"/>, the shipped family's), is
/// 3.33e-4. The absolute 5e-5 would be the wrong transfer: a byte-level model of a few million parameters trains at a
/// peak lr ~7× a 13B's, and continual pre-training is gentle relative to that peak, not in absolute terms. Batch size
/// is not rescaled (the official batch is 1/64 of LLaMA-2's 4 M-token pre-training batch; the pipeline's, 8 × 256, is
/// half of our pre-training's 16 × 256), nor is AdamW's β2 (torch's 0.999 there, LLaMA's 0.95 here).</item>
/// </list>
/// The earlier defaults (every weight, lr 5e-4, decay to 0.1 × lr, weight decay 0.1, 5 % warm-up) are
/// <c>--weights all --lr 5e-4 --min-lr-ratio 0.1 --weight-decay 0.1 --warmup N</c> with N = steps / 20.
/// </summary>
public sealed record AlignmentOptions : CorpusTrainingOptions
{
    /// <summary>The official script's learning rate, and LLaMA-2-13B's pre-training peak it is taken relative to.</summary>
    public const double OfficialLearningRate = 5e-5, Llama2PretrainingLearningRate = 3e-4;

    /// <summary>The pruned model folder to align.</summary>
    public required string Model { get; init; }
    /// <summary>Which weights train: by default all but an untied LM head, as the official script (it freezes every
    /// parameter named lm_head).</summary>
    public AlignedWeights Weights { get; init; } = AlignedWeights.AllButLmHead;

    public AlignmentOptions()
    {
        // 2e-3 × 5e-5 / 3e-4 = 3.33e-4, to three figures (what the help and the logs show).
        LearningRate = Math.Round(PretrainingLearningRate * (OfficialLearningRate / Llama2PretrainingLearningRate), 6);
        MinLrRatio = 0;
        WarmupFraction = 100.0 / 1600;
        WeightDecay = 0;
        SaveDType = DType.BF16;
        EvalEvery = 0;
    }
}

/// <summary>
/// Alignment, the paper's Eq. (8): a short continual pre-training of the pruned model W0^P on a general corpus with
/// teacher forcing, min_W Σ_t −log p(x_t | x_&lt;t; W), starting from W0^P, so that the pruned model's knowledge is
/// consistent with the original's before LoRA trains on it. The same loop as pre-training (<see cref="CorpusTraining"/>),
/// started from the pruned weights. A model pruned non-structurally stays pruned: after every update each masked
/// weight is projected back onto its sparsity pattern, W ← W ⊙ M (projected gradient descent). The pruning record and
/// masks travel with the aligned model, so recovery and masked LoRA work on it as on the pruned folder.
/// </summary>
public static class Alignment
{
    public static CorpusTrainingReport Run(AlignmentOptions o, Backend backend, IProgressReporter progress)
    {
        o.Validate();
        if (!File.Exists(Path.Combine(o.Model, ModelFolder.Config))) throw new UserInputException($"{o.Model}: not a model folder (no config.json)");
        var config = Pretraining.LoadConfig(Path.Combine(o.Model, ModelFolder.Config));
        var job = new CorpusTraining.Job("align", config, Path.GetFullPath(o.Model), (b, options) => ModelLoader.Load(o.Model, b, options))
        {
            Prepare = (model, trainer) => ProjectOntoMasks(o.Model, model, trainer),
            WriteSideFiles = folder => CopyPruningFiles(o.Model, folder),
            TokenizerFolder = o.Model,
            TrainedWeights = Trained(o),
            StartFolder = o.Model,
            Settings = [new RunSetting("--model (content)", ContentHash.OfModel(o.Model))],
        };
        return CorpusTraining.Run(o, job, backend, progress);
    }

    /// <summary>Which weights <see cref="AlignmentOptions.Weights"/> trains, by checkpoint name (null: all).</summary>
    private static Func<string, bool>? Trained(AlignmentOptions o)
    {
        if (o.Weights != AlignedWeights.PrunedLayers) return TrainedWeights(o.Weights, []);
        if (!File.Exists(Path.Combine(o.Model, PruningRecord.FileName)))
            throw new UserInputException($"{o.Model}: --weights pruned-layers needs the pruning record {PruningRecord.FileName}; this folder has none");
        var pruned = PruningRecord.LoadFor(o.Model).Layers.Where(l => l.Pruned).Select(l => l.Layer).ToList();
        if (pruned.Count == 0) throw new UserInputException($"{o.Model}: --weights pruned-layers, but the pruning record prunes no layer");
        return TrainedWeights(o.Weights, pruned);
    }

    /// <summary>The rule of <paramref name="weights"/> by checkpoint name (null: every weight); <paramref name="prunedLayers"/>
    /// are the layers pruning changed (used by <see cref="AlignedWeights.PrunedLayers"/>). The planner uses it too.</summary>
    public static Func<string, bool>? TrainedWeights(AlignedWeights weights, IReadOnlyCollection<int> prunedLayers) => weights switch
    {
        AlignedWeights.All => null,
        AlignedWeights.AllButLmHead => name => name != LlamaTensorNames.LmHead,
        _ => name => prunedLayers.Any(l => name.StartsWith($"model.layers.{l}.", StringComparison.Ordinal)),
    };

    /// <summary>W ← W ⊙ M after every optimizer step, for each projection the folder's masks cover; null when it has none.
    /// Disposing the result frees the masks.</summary>
    private static IDisposable? ProjectOntoMasks(string folder, LlamaModel model, Trainer trainer)
    {
        var masks = PruningMasks.Load(folder, model.Backend);
        if (masks is null) return null;
        var masked = model.Projections()
            .Select(p => (Layer: p.Layer as TrainableLinear, Mask: masks(p.Path)))
            .Where(p => p.Layer is not null && p.Mask is not null).Select(p => (Weight: p.Layer!.Weight.Value, Mask: p.Mask!)).ToList();
        if (masked.Count == 0) return null;
        trainer.AfterStep = _ => { foreach (var (w, m) in masked) model.Backend.Mul(w, m, w); };
        return new MaskSet(masked.Select(p => p.Mask).ToList());
    }

    private sealed class MaskSet(List<Tensor> masks) : IDisposable
    {
        public void Dispose() { foreach (var m in masks) m.Dispose(); }
    }

    /// <summary>The pruning record and masks of the source model travel with the aligned one (its tokenizer travels
    /// with every saved folder: <see cref="CorpusTraining.Job.TokenizerFolder"/>).</summary>
    private static void CopyPruningFiles(string from, string to)
    {
        foreach (var name in new[] { PruningRecord.FileName, MaskFile.FileName })
            if (File.Exists(Path.Combine(from, name))) AtomicFile.Copy(Path.Combine(from, name), Path.Combine(to, name));
    }
}
