using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Autograd;
using LoRAM.Data;
using LoRAM.Defaults;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Progress;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Training;

namespace LoRAM.Cli;

/// <summary>
/// <c>loram pretrain</c>: full-parameter pre-training of a LLaMA from random initialisation
/// (<see cref="LlamaInitializer"/>) on a plain-text corpus with the byte tokenizer, through the shared
/// <see cref="Trainer"/>. OUT becomes a Hugging Face model folder (config.json, model.safetensors,
/// loram_tokenizer.json) plus loss.csv, report.json and checkpoints/. Exit codes: 0 done, 2 bad input,
/// 3 training diverged (NaN/∞ loss or gradient; the last good checkpoint is kept), 1 internal error.
/// </summary>
internal static class PretrainCommand
{
    public const string ReportFile = "report.json";

    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "Model config.json, or the name of an embedded default: base, sibling.", Required = true };
        var data = new Option<string>("--data") { Description = "Corpus: plain text, documents separated by blank lines (e.g. corpus.txt from `loram data`).", Required = true };
        var tokens = new Option<long>("--tokens") { Description = "Training tokens; steps = ceil(tokens / (batch × seq-len)).", Required = true };
        var outDir = new Option<string>("--out") { Description = "Output folder: the trained model (HF layout), loss.csv, report.json, checkpoints/.", Required = true };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per training sequence.", DefaultValueFactory = _ => 256 };
        var batch = new Option<int>("--batch") { Description = "Sequences per optimizer step.", DefaultValueFactory = _ => 16 };
        var micro = new Option<int>("--micro-batch") { Description = "Sequences per forward/backward pass (gradient accumulation); 0 = the whole batch.", DefaultValueFactory = _ => 0 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (AdamW).", DefaultValueFactory = _ => 2e-3 };
        var minLr = new Option<double>("--min-lr-ratio") { Description = "Cosine decay ends at lr × this.", DefaultValueFactory = _ => 0.1 };
        var warmup = new Option<int?>("--warmup") { Description = "Warm-up steps (default: 5% of the steps)." };
        var wd = new Option<double>("--weight-decay") { Description = "AdamW weight decay on matrices (not on norms).", DefaultValueFactory = _ => 0.1 };
        var clip = new Option<double>("--clip") { Description = "Global gradient-norm clip (0 = none).", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { Description = "Seed of the initialisation and the data order.", DefaultValueFactory = _ => 1 };
        var ckEvery = new Option<int>("--checkpoint-every") { Description = "Checkpoint every N steps (0 = only at the end).", DefaultValueFactory = _ => 100 };
        var keep = new Option<int>("--keep-checkpoints") { Description = "Checkpoints kept on disk.", DefaultValueFactory = _ => 2 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Held-out loss every N steps (0 = only at the end).", DefaultValueFactory = _ => 100 };
        var evalSeqs = new Option<int>("--eval-sequences") { Description = "Windows at the end of the corpus held out for the eval loss (0 = none).", DefaultValueFactory = _ => 16 };
        var logEvery = new Option<int>("--log-every") { Description = "Progress line every N steps.", DefaultValueFactory = _ => 10 };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --out (same flags as the first run)." };
        var device = new Option<string?>("--device") { Description = "cpu, cuda or ilgpu-cpu (default: LORAM_DEVICE, else CUDA when present, else cpu)." };
        var dtype = new Option<string>("--dtype") { Description = "Dtype of the final weights: f32 or bf16.", DefaultValueFactory = _ => "f32" };
        var ckLayers = new Option<bool>("--checkpoint-layers") { Description = "Recompute each layer in the backward pass (less activation memory)." };
        var timeLimit = new Option<double>("--time-limit") { Description = "Stop after this many seconds with a checkpoint (continue later with --resume); 0 = none.", DefaultValueFactory = _ => 0 };
        var profile = new Option<bool>("--profile") { Description = "Time every op (forward and backward) and add the table to the report and stderr." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout." };

        var command = new Command("pretrain", "Pre-train a LLaMA from random initialisation on a plain-text corpus (byte tokenizer).")
        {
            config, data, tokens, outDir, seqLen, batch, micro, lr, minLr, warmup, wd, clip, seed, ckEvery, keep, evalEvery, evalSeqs,
            logEvery, resume, device, dtype, ckLayers, timeLimit, profile, json,
        };
        command.SetAction(parse =>
        {
            var args = new Arguments(parse.GetValue(config)!, parse.GetValue(data)!, parse.GetValue(tokens), parse.GetValue(outDir)!,
                parse.GetValue(seqLen), parse.GetValue(batch), parse.GetValue(micro), parse.GetValue(lr), parse.GetValue(minLr),
                parse.GetValue(warmup), parse.GetValue(wd), parse.GetValue(clip), parse.GetValue(seed), parse.GetValue(ckEvery),
                parse.GetValue(keep), parse.GetValue(evalEvery), parse.GetValue(evalSeqs), parse.GetValue(logEvery), parse.GetValue(resume),
                parse.GetValue(device), parse.GetValue(dtype)!, parse.GetValue(ckLayers), parse.GetValue(profile), parse.GetValue(timeLimit));
            var error = parse.InvocationConfiguration.Error;
            var report = ConsoleProgress.Run(error, progress => Run(args, progress));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else if (report["completed"]!.GetValue<bool>() is false)
                output.WriteLine($"stopped at step {report["steps"]} of {report["planned_steps"]} (time limit); checkpoint {report["last_checkpoint"]}; continue with --resume");
            else
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"wrote {report["out"]}: {report["steps"]} steps, {report["tokens_seen"]:N0} tokens, loss {(double)report["first_loss"]!:F4} → {(double)report["final_loss"]!:F4}" +
                    $" (eval {report["final_eval_loss"]?.ToString() ?? "n/a"}), {(double)report["tokens_per_s"]!:N0} tok/s"));
            return 0;
        });
        return command;
    }

    internal sealed record Arguments(string Config, string Data, long Tokens, string Out, int SeqLen, int Batch, int MicroBatch,
        double Lr, double MinLrRatio, int? Warmup, double WeightDecay, double Clip, int Seed, int CheckpointEvery, int KeepCheckpoints,
        int EvalEvery, int EvalSequences, int LogEvery, bool Resume, string? Device, string DType, bool CheckpointLayers, bool Profile = false, double TimeLimit = 0,
        string? InitFrom = null);

    /// <summary>Trains and writes everything; returns the report (also written to OUT/report.json).</summary>
    internal static JsonObject Run(Arguments a, IProgressReporter progress)
    {
        // ---- check the input before any long work ----
        if (a.Tokens < 1) throw new UserInputException($"--tokens must be at least 1, got {a.Tokens}");
        if (a.SeqLen < 2) throw new UserInputException($"--seq-len must be at least 2, got {a.SeqLen}");
        if (a.Batch < 1) throw new UserInputException($"--batch must be at least 1, got {a.Batch}");
        if (a.MicroBatch < 0 || (a.MicroBatch > 0 && a.Batch % a.MicroBatch != 0))
            throw new UserInputException($"--micro-batch {a.MicroBatch} must divide --batch {a.Batch} (or be 0 for the whole batch)");
        if (a.TimeLimit < 0) throw new UserInputException($"--time-limit must be 0 or more seconds, got {a.TimeLimit}");
        if (a.EvalSequences < 0) throw new UserInputException($"--eval-sequences must be 0 or more, got {a.EvalSequences}");
        var saveDType = a.DType.ToLowerInvariant() switch
        {
            "f32" or "float32" => DType.F32,
            "bf16" or "bfloat16" => DType.BF16,
            _ => throw new UserInputException($"--dtype must be f32 or bf16, got '{a.DType}'"),
        };
        // Alignment (loram align) continues training an existing model — the pruned one — instead of a random init.
        var config = a.InitFrom is null ? LoadConfig(a.Config) : LoadConfig(Path.Combine(a.InitFrom, ModelFolder.Config));
        var tokenizer = new ByteTokenizer();
        if (config.VocabSize < tokenizer.VocabSize)
            throw new UserInputException($"{a.Config}: vocab_size {config.VocabSize} is smaller than the byte tokenizer's {tokenizer.VocabSize}");
        if (a.SeqLen > config.MaxPositionEmbeddings)
            throw new UserInputException($"--seq-len {a.SeqLen} exceeds the config's max_position_embeddings {config.MaxPositionEmbeddings}");
        if (!File.Exists(a.Data)) throw new UserInputException($"{a.Data}: no such corpus file");
        if (File.Exists(a.Out)) throw new UserInputException($"{a.Out}: is a file, --out needs a folder");
        string checkpoints = Path.Combine(a.Out, TrainingCheckpoint.FolderName);
        string? resumeFrom = TrainingCheckpoint.Latest(checkpoints);
        if (a.Resume && resumeFrom is null) throw new UserInputException($"{a.Out}: --resume given but there is no checkpoint in {checkpoints}");
        if (!a.Resume && resumeFrom is not null) throw new UserInputException($"{a.Out}: already holds checkpoints; pass --resume to continue, or choose another folder");
        try
        {
            Directory.CreateDirectory(a.Out);
            var probe = Path.Combine(a.Out, ".loram-write-test");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{a.Out}: cannot write there ({e.Message})", e);
        }

        var stream = PackedCorpus.Tokenize(PlainTextCorpus.Load(a.Data), tokenizer);
        PackedCorpus corpus;
        try { corpus = new PackedCorpus(stream, a.SeqLen, a.Seed, a.EvalSequences); }
        catch (ArgumentException e) { throw new UserInputException($"{a.Data}: {e.Message}", e); }

        long perStep = (long)a.Batch * a.SeqLen;
        int steps = checked((int)((a.Tokens + perStep - 1) / perStep));
        var options = new TrainerOptions
        {
            Steps = steps, BatchSequences = a.Batch, MicroBatchSequences = a.MicroBatch, LearningRate = a.Lr, MinLrRatio = a.MinLrRatio,
            WarmupSteps = a.Warmup ?? Math.Max(steps / 20, steps > 1 ? 1 : 0), WeightDecay = a.WeightDecay, ClipNorm = a.Clip, Seed = a.Seed,
            OutputFolder = a.Out, CheckpointEvery = a.CheckpointEvery, KeepCheckpoints = a.KeepCheckpoints,
            EvalEvery = a.EvalSequences > 0 ? a.EvalEvery : 0, LogEvery = a.LogEvery,
            TimeLimit = a.TimeLimit > 0 ? TimeSpan.FromSeconds(a.TimeLimit) : null,
        };
        try { options.Validate(); }
        catch (ArgumentException e) { throw new UserInputException(e.Message, e); }
        if (options.EvalEvery == 0 && a.EvalSequences > 0) options = options with { EvalEvery = steps };

        Backend backend;
        try { backend = Backends.Create(a.Device ?? Environment.GetEnvironmentVariable("LORAM_DEVICE")); }
        catch (ArgumentException e) { throw new UserInputException(e.Message, e); }
        using (backend)
        {
            LlamaModel model;
            var modelOptions = new LlamaModelOptions { Trainable = true, CheckpointLayers = a.CheckpointLayers };
            if (a.InitFrom is not null) model = CommonOptions.LoadModel(a.InitFrom, backend, modelOptions);
            else
                using (var init = LlamaInitializer.Create(config, backend, a.Seed))
                    model = LlamaModel.FromWeights(init, backend, modelOptions);
            using (model)
            {
                var ledger = new MemoryLedger();
                model.RegisterMemory(ledger);
                var trainable = new TrainableModel
                {
                    Parameters = model.Parameters().ToList(),
                    Forward = (tape, ids) => model.Forward(tape, ids),
                    WriteFolderFiles = folder => WriteModelFiles(config, folder),
                };
                progress.Line(string.Create(CultureInfo.InvariantCulture,
                    $"pretrain: {config.ParameterCount():N0} parameters ({config.NumHiddenLayers} layers, d {config.HiddenSize}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads} kv) " +
                    $"on {backend.Name}; corpus {corpus.StreamTokens:N0} tokens ({corpus.TrainingWindows:N0} windows of {a.SeqLen}, {a.EvalSequences} held out); " +
                    $"{steps} steps × {a.Batch} × {a.SeqLen} tokens, micro-batch {options.MicroBatch}, lr {a.Lr:G3}, warm-up {options.WarmupSteps}"));
                using var trainer = new Trainer(backend, trainable, corpus, options, ledger, progress) { Name = a.InitFrom is null ? "pretrain" : "align" };
                var profiler = a.Profile ? new OpProfiler() : null;
                trainer.Profiler = profiler;
                if (a.EvalSequences > 0) trainer.Evaluate = () => HeldOutLoss(model, corpus, options.MicroBatch);
                if (resumeFrom is not null)
                {
                    try { trainer.ResumeFrom(resumeFrom); }
                    catch (ArgumentException e) { throw new UserInputException($"cannot resume: {e.Message}", e); }
                }
                // CPU time beside wall time: on a shared machine, tokens per CPU-second is the figure that does not
                // depend on what else is running (for one thread it is the uncontended single-core throughput).
                var cpuBefore = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
                // A non-structurally pruned model stays pruned while it is aligned: its masked weights are put back to
                // zero after every update (projected gradient descent onto the sparsity pattern).
                var masks = a.InitFrom is null ? null : Lora.PruningMasks.Load(a.InitFrom, backend);
                var masked = masks is null ? [] : model.Projections()
                    .Select(p => (Layer: p.Layer as TrainableLinear, Mask: masks(p.Path)))
                    .Where(p => p.Layer is not null && p.Mask is not null).Select(p => (p.Layer!.Weight.Value, p.Mask!)).ToList();
                if (masked.Count > 0) trainer.AfterStep = _ => { foreach (var (w, m) in masked) backend.Mul(w, m, w); };
                var summary = trainer.Run();
                foreach (var (_, m) in masked) m.Dispose();
                double cpuSeconds = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;

                // A time-boxed run that stopped early leaves its checkpoint, not a final model.
                if (summary.Completed)
                {
                    model.Save(a.Out, saveDType);
                    WriteModelFiles(config, a.Out, configToo: false);
                    if (a.InitFrom is not null) CopyModelSideFiles(a.InitFrom, a.Out);
                }
                var report = Report(a, config, backend, options, summary, cpuSeconds);
                if (profiler is not null)
                {
                    var ops = new JsonObject();
                    progress.Line($"op profile ({profiler.Total.TotalSeconds:F1} s in ops):");
                    foreach (var e in profiler.Entries)
                    {
                        ops[e.Op] = new JsonObject { ["forward_s"] = e.Forward.TotalSeconds, ["backward_s"] = e.Backward.TotalSeconds, ["calls"] = e.ForwardCalls };
                        progress.Line(string.Create(CultureInfo.InvariantCulture,
                            $"  {e.Op,-24} forward {e.Forward.TotalSeconds,8:F2} s  backward {e.Backward.TotalSeconds,8:F2} s  {100 * e.Total / profiler.Total,5:F1} %"));
                    }
                    report["op_profile"] = ops;
                }
                var reportPath = Path.Combine(a.Out, ReportFile);
                File.WriteAllText(reportPath + ".tmp", report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                File.Move(reportPath + ".tmp", reportPath, overwrite: true);
                return report;
            }
        }
    }

    /// <summary>The model config: an embedded default by name, or a config.json path.</summary>
    internal static LlamaConfig LoadConfig(string nameOrPath)
    {
        if (DefaultModels.Names.Contains(nameOrPath) && !File.Exists(nameOrPath)) return DefaultModels.Config(nameOrPath);
        if (!File.Exists(nameOrPath))
            throw new UserInputException($"{nameOrPath}: no such config file (or embedded default: {string.Join(", ", DefaultModels.Names)})");
        try { return LlamaConfig.Load(nameOrPath); }
        catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }
    }

    /// <summary>config.json and the byte tokenizer's loram_tokenizer.json: with the weights, a loadable model folder.</summary>
    private static void WriteModelFiles(LlamaConfig config, string folder, bool configToo = true)
    {
        if (configToo) config.Save(Path.Combine(folder, ModelFolder.Config));
        File.WriteAllText(Path.Combine(folder, ByteTokenizer.FileName), "{\"type\": \"byte\"}\n");
    }

    /// <summary>The tokenizer, pruning record and masks of the source model travel with the aligned one, so recovery and
    /// masked LoRA work on it as on the pruned folder.</summary>
    private static void CopyModelSideFiles(string from, string to)
    {
        ModelFolder.CopyTokenizerFiles(from, to);
        foreach (var name in new[] { Pruning.PruningRecord.FileName, Pruning.MaskFile.FileName })
            if (File.Exists(Path.Combine(from, name))) AtomicFile.Copy(Path.Combine(from, name), Path.Combine(to, name));
    }

    /// <summary>Mean next-token loss over the held-out windows (all full, so the mean of window means is the token mean).</summary>
    internal static double HeldOutLoss(LlamaModel model, PackedCorpus corpus, int batch)
    {
        double sum = 0;
        long tokens = 0;
        foreach (var b in corpus.HeldOut(batch))
        {
            using var tape = new Tape(model.Backend);
            using var _ = tape.NoGrad();
            using var ids = Tensor.FromArray(model.Backend, b.Inputs, b.Sequences, b.Length);
            using var targets = Tensor.FromArray(model.Backend, b.Targets, b.Sequences, b.Length);
            int n = b.TrainedTokens;
            sum += (double)tape.CrossEntropy(model.Forward(tape, ids), targets).Item() * n;
            tokens += n;
        }
        return sum / tokens;
    }

    private static JsonObject Report(Arguments a, LlamaConfig config, Backend backend, TrainerOptions o, TrainingSummary s, double cpuSeconds)
    {
        var peak = new JsonObject();
        foreach (var (k, v) in s.PeakMemory) peak[k] = v;
        return new JsonObject
        {
            ["out"] = Path.GetFullPath(a.Out),
            ["config"] = a.InitFrom is null ? a.Config : Path.GetFullPath(a.InitFrom),
            ["parameters"] = config.ParameterCount(),
            ["device"] = backend.Name,
            ["threads"] = backend is CpuBackend cpu ? cpu.Threads : null,
            ["seed"] = a.Seed,
            ["seq_len"] = a.SeqLen,
            ["batch"] = o.BatchSequences,
            ["micro_batch"] = o.MicroBatch,
            ["completed"] = s.Completed,
            ["steps"] = s.Steps,
            ["planned_steps"] = o.Steps,
            ["tokens_seen"] = s.TokensSeen,
            ["lr"] = o.LearningRate,
            ["warmup"] = o.WarmupSteps,
            ["seconds"] = s.Seconds,
            ["tokens_per_s"] = s.TokensPerSecond,
            ["steady_tokens_per_s"] = s.SteadyTokensPerSecond,
            ["cpu_seconds"] = cpuSeconds,
            ["tokens_per_cpu_s"] = s.TokensThisRun / Math.Max(cpuSeconds, 1e-9),
            ["first_loss"] = s.FirstLoss,
            ["final_loss"] = s.FinalLoss,
            ["final_eval_loss"] = s.FinalEvalLoss,
            ["peak_memory_bytes"] = peak,
            ["peak_backend_bytes"] = s.PeakBackendBytes,
            ["loss_curve"] = LossCurve.FileName,
            ["last_checkpoint"] = s.LastCheckpoint,
        };
    }
}
