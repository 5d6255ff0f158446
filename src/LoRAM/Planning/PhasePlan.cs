using LoRAM.Llama;
using LoRAM.Tensors;

namespace LoRAM.Planning;

/// <summary>The run a <see cref="PhasePlan"/> predicts: sizes of the batches, LoRA and storage choices.</summary>
public sealed record PhaseOptions
{
    /// <summary>Tokens per training sequence (align, train, eval).</summary>
    public int SeqLen { get; init; } = 512;
    /// <summary>Sequences per forward/backward pass.</summary>
    public int MicroBatch { get; init; } = 4;
    public int Rank { get; init; } = 8;
    /// <summary>QLoRAM: the pruned model's projections in NF4 while LoRA trains.</summary>
    public bool Nf4 { get; init; }
    /// <summary>Activation checkpointing of every decoder layer in align and train.</summary>
    public bool CheckpointLayers { get; init; }
    /// <summary>Storage dtype of the frozen weights as the folder holds them.</summary>
    public DType Stored { get; init; } = DType.BF16;
    /// <summary>LoRAM-Stru's calibration: samples, tokens each, samples per LM-head piece (<see cref="Pruning.TaylorImportance.ComputeLean"/>).</summary>
    public int CalibrationSamples { get; init; } = 10;
    public int CalibrationSeqLen { get; init; } = 128;
    public int CalibrationBatch { get; init; } = 4;
    /// <summary>Which weights alignment trains (<see cref="LoRAM.Training.AlignmentOptions.Weights"/>); the rest stay frozen as stored.</summary>
    public LoRAM.Training.AlignedWeights AlignWeights { get; init; } = LoRAM.Training.AlignedWeights.AllButLmHead;
}

/// <summary>Expected peak bytes of one phase, by what they hold. <see cref="Total"/> is the predicted peak resident set of
/// the process: the categories plus <see cref="Runtime"/>.</summary>
public sealed record PhaseMemory(string Phase, long FrozenStored, long FrozenF32, long FrozenNf4, long Trainable, long Gradients,
    long OptimizerState, long Activations, long Workspace, string Model)
{
    /// <summary>What a <c>loram</c> process holds besides tensors: the .NET runtime, JIT-compiled code, the tokenizer, the
    /// calibration or training tokens (<see cref="PhasePlan.RuntimeBytes"/>).</summary>
    public long Runtime { get; init; } = PhasePlan.RuntimeBytes;
    public long Total => FrozenStored + FrozenF32 + FrozenNf4 + Trainable + Gradients + OptimizerState + Activations + Workspace + Runtime;
    /// <summary>What <see cref="Autograd.MemoryLedger"/> samples (everything but the backward pass's transient workspace
    /// and the runtime).</summary>
    public long LedgerTotal => Total - Workspace - Runtime;
}

/// <summary>
/// Peak memory of each phase of LoRAM, from the config alone, derived from what the code holds:
/// <list type="bullet">
/// <item><b>prune</b> (stru, lean Taylor): the original frozen in its stored dtype (norms F32), the N·T-token
/// calibration batch through checkpointed layers (each layer's output n·d kept), then in the backward pass the larger
/// of one LM-head piece (logits and their gradient, p·V each) and one recomputed layer with its gradients, plus one
/// projection's dW [out, in] (workspace).</item>
/// <item><b>align</b>: training of the pruned model's chosen weights — F32 weights, gradients and AdamW's two moments
/// (16 bytes a parameter), the others frozen as stored — plus the tape's activations.</item>
/// <item><b>train</b>: LoRA on the pruned model frozen in BF16 or NF4 (codes + one F32 absmax per 64), LoRA A, B in F32
/// with gradients and AdamW, and the activations the tape holds when backward starts.</item>
/// <item><b>eval</b>: the original (adapter merged) frozen, one decoder layer's intermediates and the logits.</item>
/// </list>
/// Activations when backward starts (what the tape saves, per token, 4 bytes each; n = micro-batch × seq len): per layer
/// 6d + 3q + 3kv + 3f + H + 2 (the outputs of n1, q, RoPE(q), k, RoPE(k), v, attention, o, +, n2, gate, up, SwiGLU, down,
/// +; attention's log-sum-exp per head; two RMSNorm rstd) and, with LoRA, r per projection (u = x·Aᵀ); the embedding
/// output d, the final norm d + 1 and the logits V. Checkpointed: d per layer (its output) instead, and one layer's
/// recomputation becomes workspace. q, kv, f, H are each layer's (pruned) sizes.
/// Every phase adds <see cref="RuntimeBytes"/>, so a phase's total is its predicted peak resident set.
/// </summary>
public static class PhasePlan
{
    private const long F = 4;   // bytes of a float32

    /// <summary>The resident set of a <c>loram</c> process before its first tensor: measured 80 MiB for
    /// <c>loram tokenize</c> with a 32,000-token tokenizer.json and 110 MiB when <c>loram prune</c> of TinyLlama-1.1B's
    /// shape starts its calibration pass (bench/RESULTS.md, "TinyLlama-1.1B shape").</summary>
    public const long RuntimeBytes = 112L << 20;

    public static IReadOnlyList<PhaseMemory> For(ParameterPlan plan, PhaseOptions o)
    {
        var original = plan.Original;
        var trained = plan.Trained;
        return [Prune(original, o), Align(trained, o, AlignTrains(plan, o.AlignWeights)), Train(trained, o), Eval(original, o)];
    }

    /// <summary>The weights alignment trains, by name, on the pruned model of <paramref name="plan"/> (null: all).</summary>
    public static Func<string, bool>? AlignTrains(ParameterPlan plan, LoRAM.Training.AlignedWeights weights) =>
        LoRAM.Training.Alignment.TrainedWeights(weights,
            Enumerable.Range(plan.KeepFirst, Math.Max(0, plan.Original.NumHiddenLayers - plan.KeepFirst - plan.KeepLast)).ToList());

    /// <summary>LoRAM-Stru's pruning step with the lean Taylor path.</summary>
    public static PhaseMemory Prune(LlamaConfig c, PhaseOptions o)
    {
        var (stored, f32) = Frozen(c, o.Stored);
        long n = (long)o.CalibrationSamples * o.CalibrationSeqLen, p = (long)Math.Min(o.CalibrationBatch, o.CalibrationSamples) * o.CalibrationSeqLen;
        int d = c.HiddenSize, L = c.NumHiddenLayers;
        // Kept through the backward pass: the embedding output and every layer's output (checkpoints), the final norm and its gradient.
        long kept = F * n * ((long)d * (L + 3) + 1);
        // Backward peaks: one LM-head piece (logits, dlogits, dx), or the top layer recomputed with its gradients in flight.
        long head = F * p * (2L * c.VocabSize + 2 * d);
        long layer = Enumerable.Range(0, L).Max(l => F * n * (LayerSaved(c, l, 0) + LayerGradients(c, l)));
        long dW = Enumerable.Range(0, L).Max(l => ParameterPlan.ProjectionShapes(c, l).Max(s => (long)s.Rows * s.Cols)) * F;
        return new PhaseMemory("prune", stored, f32, 0, 0, 0, 0, kept + Math.Max(head, layer), dW, "original");
    }

    /// <summary>Alignment (Eq. 8) of the pruned model: the weights <paramref name="trains"/> names (null: all) in F32 with
    /// gradients and AdamW's two moments (16 bytes a parameter); the others frozen as stored (norms F32).</summary>
    public static PhaseMemory Align(LlamaConfig c, PhaseOptions o, Func<string, bool>? trains = null)
    {
        long trained = 0, frozenStored = 0, frozenF32 = 0;
        foreach (var (name, shape) in LlamaTensorNames.Expected(c))
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            if (trains?.Invoke(name) ?? true) trained += n;
            else if (shape.Length == 1) frozenF32 += F * n;
            else frozenStored += n * o.Stored.Size();
        }
        var (act, work) = Training(c, o, rank: 0);
        // When the embedding trains, the backward pass ends with the gradient flowing into it still alive beside the first
        // layer's input gradient and its copy (3d a token), before the tape lets its saved tensors go (measured on tiny shapes).
        if (trains?.Invoke(LlamaTensorNames.Embedding) ?? true) act += F * o.MicroBatch * o.SeqLen * 3L * c.HiddenSize;
        return new PhaseMemory("align", frozenStored, frozenF32, 0, F * trained, F * trained, 2 * F * trained, act, work, "pruned");
    }

    /// <summary>LoRA SFT on the pruned model (BF16 or NF4 base).</summary>
    public static PhaseMemory Train(LlamaConfig c, PhaseOptions o)
    {
        var (stored, f32) = Frozen(c, o.Stored);
        long nf4 = 0;
        if (o.Nf4)
        {
            long projections = 0;
            for (int l = 0; l < c.NumHiddenLayers; l++)
                foreach (var (rows, cols) in ParameterPlan.ProjectionShapes(c, l)) projections += (long)rows * cols;
            stored -= projections * o.Stored.Size();
            nf4 = projections / 2 + projections / 64 * F;   // 4-bit codes + an F32 absmax per block of 64
        }
        long lora = MemoryPlan.For(c, o.Rank).LoraParameters;
        var (act, work) = Training(c, o, o.Rank);
        return new PhaseMemory("train", stored, f32, nf4, F * lora, F * lora, 2 * F * lora, act, work, "pruned");
    }

    /// <summary>Evaluation of the original with the recovered adapter merged.</summary>
    public static PhaseMemory Eval(LlamaConfig c, PhaseOptions o)
    {
        var (stored, f32) = Frozen(c, o.Stored);
        long n = (long)o.MicroBatch * o.SeqLen;
        long layer = Enumerable.Range(0, c.NumHiddenLayers).Max(l => F * n * LayerSaved(c, l, 0));
        return new PhaseMemory("eval", stored, f32, 0, 0, 0, 0, layer + F * n * (2L * c.HiddenSize + c.VocabSize), 0, "original");
    }

    /// <summary>Frozen bytes: projections, embedding and untied LM head in <paramref name="dtype"/>; RMSNorm gains in F32.</summary>
    private static (long Stored, long F32) Frozen(LlamaConfig c, DType dtype)
    {
        long norms = (2L * c.NumHiddenLayers + 1) * c.HiddenSize;
        return ((c.ParameterCount() - norms) * dtype.Size(), norms * F);
    }

    /// <summary>Activations when backward starts, and the backward pass's transient workspace, of one micro-batch.</summary>
    private static (long Activations, long Workspace) Training(LlamaConfig c, PhaseOptions o, int rank)
    {
        long n = (long)o.MicroBatch * o.SeqLen;
        int d = c.HiddenSize, L = c.NumHiddenLayers;
        long head = 2L * d + 2 + c.VocabSize;   // embedding output, final norm (+ rstd), logits, CE's lse
        long layers = o.CheckpointLayers ? (long)L * d : Enumerable.Range(0, L).Sum(l => LayerSaved(c, l, rank));
        long work = (long)c.VocabSize;          // dlogits, while the logits are alive
        if (o.CheckpointLayers) work += Enumerable.Range(0, L).Max(l => LayerSaved(c, l, rank) + LayerGradients(c, l));
        return (F * n * (layers + head), F * n * work);
    }

    /// <summary>Floats per token one decoder layer's tape holds (see the class comment).</summary>
    private static long LayerSaved(LlamaConfig c, int l, int rank)
    {
        long d = c.HiddenSize, q = (long)c.HeadsAt(l) * c.HeadDim, kv = (long)c.KvHeadsAt(l) * c.HeadDim, f = c.IntermediateAt(l);
        long lora = rank == 0 ? 0 : ParameterPlan.ProjectionShapes(c, l).Count(s => s.Rows > 0 && s.Cols > 0) * (long)rank;
        return 6 * d + 3 * q + 3 * kv + 3 * f + c.HeadsAt(l) + 2 + lora;
    }

    /// <summary>Floats per token of gradients alive at once when one layer's backward starts (its MLP): the layer output's
    /// gradient copied onto the replay's root, dh and d(down) from the residual add, and SwiGLU's d(SwiGLU) beside its
    /// scratch d(gate), d(up) and their copies into the inputs' gradients (5f).</summary>
    private static long LayerGradients(LlamaConfig c, int l) => 3L * c.HiddenSize + 5L * c.IntermediateAt(l);
}
