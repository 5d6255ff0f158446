using System.CommandLine;
using System.Globalization;
using LoRAM.Tensors;
using LoRAM.Training;

namespace LoRAM.Cli;

/// <summary>The schedule flags <c>pretrain</c> and <c>align</c> share, each defaulting to the value its options record
/// holds (<see cref="CorpusTrainingOptions"/> and the job's own overrides): a default lives in the record, not here.</summary>
internal sealed class CorpusTrainingFlags
{
    private readonly Option<int> _seqLen, _batch, _micro, _seed, _ckEvery, _keep, _evalEvery, _evalSeqs, _logEvery;
    private readonly Option<double> _lr, _minLr, _wd, _clip;
    private readonly Option<int?> _warmup;
    private readonly Option<bool> _resume, _checkpointLayers;
    private readonly Option<string> _dtype;

    private CorpusTrainingFlags(CorpusTrainingOptions d)
    {
        _seqLen = new("--seq-len") { Description = "Tokens per training sequence.", DefaultValueFactory = _ => d.SeqLen };
        _batch = new("--batch") { Description = "Sequences per optimizer step.", DefaultValueFactory = _ => d.Batch };
        _micro = new("--micro-batch") { Description = "Sequences per forward/backward pass (gradient accumulation); 0 = the whole batch.", DefaultValueFactory = _ => d.MicroBatch };
        _lr = new("--lr") { Description = "Peak learning rate (AdamW).", DefaultValueFactory = _ => d.LearningRate };
        _minLr = new("--min-lr-ratio") { Description = "Cosine decay ends at lr × this.", DefaultValueFactory = _ => d.MinLrRatio };
        _warmup = new("--warmup")
        {
            Description = string.Create(CultureInfo.InvariantCulture, $"Warm-up steps (default: {d.WarmupFraction * 100:0.##}% of the steps, at least 1)."),
            DefaultValueFactory = _ => d.Warmup,
        };
        _wd = new("--weight-decay") { Description = "AdamW weight decay on matrices (not on norms).", DefaultValueFactory = _ => d.WeightDecay };
        _clip = new("--clip") { Description = "Global gradient-norm clip (0 = none).", DefaultValueFactory = _ => d.Clip };
        _seed = new("--seed") { Description = "Seed of the initialisation and the data order.", DefaultValueFactory = _ => d.Seed };
        _ckEvery = new("--checkpoint-every") { Description = "Checkpoint every N steps (0 = only at the end).", DefaultValueFactory = _ => d.CheckpointEvery };
        _keep = new("--keep-checkpoints") { Description = "Checkpoints kept on disk.", DefaultValueFactory = _ => d.KeepCheckpoints };
        _evalEvery = new("--eval-every") { Description = "Held-out loss every N steps (0 = only at the end).", DefaultValueFactory = _ => d.EvalEvery };
        _evalSeqs = new("--eval-sequences") { Description = "Windows at the end of the corpus held out for the eval loss (0 = none).", DefaultValueFactory = _ => d.EvalSequences };
        _logEvery = new("--log-every") { Description = "Progress line every N steps.", DefaultValueFactory = _ => d.LogEvery };
        _resume = new("--resume")
        {
            Description = "Continue from the newest checkpoint in --out: every setting that changes the model (corpus and initial model content, " +
                "--tokens, --seq-len, --batch, --micro-batch, --seed, the schedule) must be the checkpoint's. Allowed changes: a lower --lr and a " +
                "longer --warmup (after a divergence), and --time-limit, --eval-every, --log-every, --checkpoint-every, --keep-checkpoints.",
        };
        _checkpointLayers = new("--checkpoint-layers") { Description = "Recompute each layer in the backward pass (less activation memory, one more forward)." };
        _dtype = new("--dtype") { Description = "Dtype of the saved weights: f32 or bf16.", DefaultValueFactory = _ => CommonOptions.DTypeName(d.SaveDType) };
    }

    public static CorpusTrainingFlags Create(CorpusTrainingOptions defaults) => new(defaults);

    public void AddTo(Command command)
    {
        foreach (Option o in new Option[] { _seqLen, _batch, _micro, _lr, _minLr, _warmup, _wd, _clip, _seed, _ckEvery, _keep, _evalEvery, _evalSeqs, _logEvery, _resume, _checkpointLayers, _dtype })
            command.Add(o);
    }

    /// <summary><paramref name="options"/> with the schedule the flags give.</summary>
    public T Read<T>(ParseResult parse, T options) where T : CorpusTrainingOptions =>
        (T)(options with
        {
            SeqLen = parse.GetValue(_seqLen), Batch = parse.GetValue(_batch), MicroBatch = parse.GetValue(_micro),
            LearningRate = parse.GetValue(_lr), MinLrRatio = parse.GetValue(_minLr), Warmup = parse.GetValue(_warmup),
            WeightDecay = parse.GetValue(_wd), Clip = parse.GetValue(_clip), Seed = parse.GetValue(_seed),
            CheckpointEvery = parse.GetValue(_ckEvery), KeepCheckpoints = parse.GetValue(_keep), EvalEvery = parse.GetValue(_evalEvery),
            EvalSequences = parse.GetValue(_evalSeqs), LogEvery = parse.GetValue(_logEvery), Resume = parse.GetValue(_resume),
            CheckpointLayers = parse.GetValue(_checkpointLayers),
            SaveDType = CommonOptions.ParseDType(parse.GetValue(_dtype)!),
        });
}
