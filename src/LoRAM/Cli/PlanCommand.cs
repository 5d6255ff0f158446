using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Llama;
using LoRAM.Planning;
using LoRAM.Pruning;

namespace LoRAM.Cli;

/// <summary><c>loram plan</c>: parameter counts and memory of LoRAM training for a config, no weights needed —
/// reproduces the paper's parameter tables (e.g. LLaMA-2-13B at 0.65: 6,005,662,720 parameters, 2.17×, 11.19 GiB).</summary>
internal static class PlanCommand
{
    /// <summary>The ratio assumed without --ratio: the pipeline's LoRAM rows (half the groups and channels).</summary>
    public const double DefaultRatio = 0.5;

    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = $"config.json, a model folder, or a built-in name ({string.Join(", ", ModelPresets.Names)}).", Required = true };
        var method = new Option<string>("--method") { Description = "rand | stru | semi | unst | wanda | magnitude.", DefaultValueFactory = _ => "stru" };
        var ratio = new Option<double?>("--ratio") { Description = $"Pruning ratio (semi: from --nm; default {DefaultRatio}, said on stderr when assumed)." };
        var nm = new Option<string?>("--nm") { Description = "N:M pattern (semi: default 4:8)." };
        var keepFirst = new Option<int?>("--keep-first") { Description = "Layers at the bottom kept whole (default 4 structured, 0 otherwise)." };
        var keepLast = new Option<int?>("--keep-last") { Description = "Layers at the top kept whole (default 2 structured, 0 otherwise)." };
        var nf4 = new Option<bool>("--nf4") { Description = "Also account the base at 4 bits (QLoRAM: a quarter of 16 bits)." };
        var rank = new Option<int>("--rank") { Description = "LoRA rank on the seven projections.", DefaultValueFactory = _ => new Lora.LoraSettings().Rank };
        var lmHead = new Option<bool>("--lm-head") { Description = "Also put LoRA on the LM head." };
        var ph = new PhaseOptions();
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per training sequence (align, train, eval).", DefaultValueFactory = _ => ph.SeqLen };
        var microBatch = new Option<int>("--micro-batch") { Description = "Sequences per forward/backward pass.", DefaultValueFactory = _ => ph.MicroBatch };
        var checkpoint = new Option<bool>("--checkpoint-layers") { Description = "Activation checkpointing of every decoder layer in align and train." };
        var calibSamples = new Option<int>("--samples") { Description = "stru calibration samples.", DefaultValueFactory = _ => ph.CalibrationSamples };
        var calibLen = new Option<int>("--calib-seq-len") { Description = "Tokens per stru calibration sample.", DefaultValueFactory = _ => ph.CalibrationSeqLen };
        var alignWeights = new Option<string>("--align-weights")
        {
            Description = "Weights alignment trains: all-but-lm-head (loram align's default), all, or pruned-layers.",
            DefaultValueFactory = _ => AlignCommand.WeightsName(ph.AlignWeights),
        };
        alignWeights.AcceptOnlyFromAmong(Enum.GetValues<Training.AlignedWeights>().Select(AlignCommand.WeightsName).ToArray());
        var json = new Option<bool>("--json") { Description = "Print the plan as JSON." };
        var command = new Command("plan", "Parameter count, reduction ratio and training memory of a pruned model, from its config alone.")
        {
            config, method, ratio, nm, keepFirst, keepLast, nf4, rank, lmHead, seqLen, microBatch, checkpoint, calibSamples, calibLen, alignWeights, json,
        };
        command.SetAction(parse =>
        {
            var name = parse.GetValue(config)!;
            var c = Resolve(name);
            ParameterPlan plan;
            MemoryPlan memory;
            try
            {
                var m = PruningMethods.Parse(parse.GetValue(method)!);
                SparsityTarget? target = parse.GetValue(nm) is { } t ? PruningMethods.ParseNM(t) : null;
                double r = parse.GetValue(ratio) ?? DefaultRatio;
                // Without --ratio a plan would silently be of some ratio; say which (semi and --nm take theirs from the pattern).
                if (parse.GetValue(ratio) is null && m != PruningMethod.Semi && target is null)
                    parse.InvocationConfiguration.Error.WriteLine($"plan: no --ratio given; assuming --ratio {DefaultRatio.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
                plan = ParameterPlan.For(c, m, r, target, parse.GetValue(keepFirst), parse.GetValue(keepLast));
                memory = MemoryPlan.For(plan.Trained, parse.GetValue(rank), parse.GetValue(lmHead), plan.ReducesMemory ? plan.PrunedParameters : plan.OriginalParameters);
            }
            catch (ArgumentException e) { throw new UserInputException(e.Message, e); }
            var phaseOptions = new PhaseOptions
            {
                SeqLen = parse.GetValue(seqLen), MicroBatch = parse.GetValue(microBatch), Rank = parse.GetValue(rank), Nf4 = parse.GetValue(nf4),
                CheckpointLayers = parse.GetValue(checkpoint), CalibrationSamples = parse.GetValue(calibSamples), CalibrationSeqLen = parse.GetValue(calibLen),
                AlignWeights = Enum.GetValues<Training.AlignedWeights>().First(w => AlignCommand.WeightsName(w) == parse.GetValue(alignWeights)),
            };
            if (phaseOptions.SeqLen <= 0 || phaseOptions.MicroBatch <= 0 || phaseOptions.CalibrationSamples <= 0 || phaseOptions.CalibrationSeqLen <= 0)
                throw new UserInputException("--seq-len, --micro-batch, --samples and --calib-seq-len must be positive");
            var phases = PhasePlan.For(plan, phaseOptions);
            var report = Report(name, plan, memory, parse.GetValue(nf4));
            report["phases"] = new JsonArray(phases.Select(p => (JsonNode)new JsonObject
            {
                ["phase"] = p.Phase, ["model"] = p.Model, ["frozen_stored_bytes"] = p.FrozenStored, ["frozen_f32_bytes"] = p.FrozenF32,
                ["frozen_nf4_bytes"] = p.FrozenNf4, ["trainable_bytes"] = p.Trainable, ["gradient_bytes"] = p.Gradients,
                ["optimizer_bytes"] = p.OptimizerState, ["activation_bytes"] = p.Activations, ["workspace_bytes"] = p.Workspace,
                ["runtime_bytes"] = p.Runtime, ["total_bytes"] = p.Total,
            }).ToArray());
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                Print(output, name, plan, memory, parse.GetValue(nf4));
                output.WriteLine($"  peak resident memory by phase (MiB; seq {phaseOptions.SeqLen} × micro-batch {phaseOptions.MicroBatch}{(phaseOptions.CheckpointLayers ? ", checkpointed" : "")}; " +
                    $"prune: {phaseOptions.CalibrationSamples} × {phaseOptions.CalibrationSeqLen} calibration tokens; align: {AlignCommand.WeightsName(phaseOptions.AlignWeights)}):");
                output.WriteLine("    phase  model     frozen  frozenF32     nf4  trainable    grads  optimizer  activations  workspace  runtime    total");
                static string M(long b) => (b / 1048576.0).ToString("F1");
                foreach (var p in phases)
                    output.WriteLine($"    {p.Phase,-6} {p.Model,-8} {M(p.FrozenStored),7} {M(p.FrozenF32),9} {M(p.FrozenNf4),7} {M(p.Trainable),10} {M(p.Gradients),8} {M(p.OptimizerState),10} {M(p.Activations),12} {M(p.Workspace),10} {M(p.Runtime),8} {M(p.Total),8}");
            }
            return 0;
        });
        return command;
    }

    /// <summary>A config.json path, a model folder, or a built-in name.</summary>
    internal static LlamaConfig Resolve(string name) => ModelPresets.Resolve(name);

    private static double Round2(double x) => Math.Round(x, 2, MidpointRounding.AwayFromZero);

    internal static JsonObject Report(string name, ParameterPlan plan, MemoryPlan memory, bool nf4)
    {
        long baseParams = memory.BaseParameters;
        var o = new JsonObject
        {
            ["model"] = name,
            ["method"] = plan.Method.Name(),
            ["ratio"] = plan.Ratio,
            ["nm"] = plan.NM,
            ["keep_first"] = plan.KeepFirst,
            ["keep_last"] = plan.KeepLast,
            ["original_parameters"] = plan.OriginalParameters,
            ["pruned_parameters"] = plan.PrunedParameters,
            ["reduction_ratio"] = Round2(plan.ReductionRatio),
            ["reduces_memory"] = plan.ReducesMemory,
            ["original_memory_gib_bf16"] = Round2(plan.OriginalParameters * 2 / MemoryPlan.GiB),
            ["parameter_memory_bytes_bf16"] = memory.BaseBytesBf16,
            ["parameter_memory_gib_bf16"] = Round2(memory.BaseBytesBf16 / MemoryPlan.GiB),
        };
        if (!plan.ReducesMemory) o["note"] = "non-structured pruning: pruned_parameters counts nonzero weights; shapes and memory are unchanged";
        if (nf4)
        {
            o["parameter_memory_bytes_nf4"] = memory.BaseBytesNf4;
            o["parameter_memory_gib_nf4"] = Round2(memory.BaseBytesNf4 / MemoryPlan.GiB);
            // QLoRAM's storage reduction: 16-bit original over 4-bit pruned (the paper's 16.95× for LLaMA-2-70B at 0.85).
            o["storage_reduction_ratio_nf4"] = Round2(plan.OriginalParameters * 2.0 / memory.BaseBytesNf4);
        }
        o["lora"] = new JsonObject
        {
            ["rank"] = memory.Rank,
            ["lm_head"] = memory.LmHead,
            ["parameters"] = memory.LoraParameters,
            ["weight_bytes_f32"] = memory.LoraBytes,
            ["gradient_bytes_f32"] = memory.GradientBytes,
            ["adamw_bytes_f32"] = memory.OptimizerBytes,
            ["trainable_state_bytes"] = memory.TrainableStateBytes,
        };
        return o;
    }

    private static void Print(TextWriter w, string name, ParameterPlan plan, MemoryPlan memory, bool nf4)
    {
        int layers = plan.Original.NumHiddenLayers;
        w.WriteLine($"{name}: {plan.Method.Name()} {(plan.NM ?? $"at ratio {plan.Ratio}")}, layers {plan.KeepFirst}..{layers - plan.KeepLast - 1} pruned ({plan.KeepFirst} first / {plan.KeepLast} last kept whole)");
        w.WriteLine($"  parameters   {plan.OriginalParameters:N0} → {plan.PrunedParameters:N0}  ({plan.ReductionRatio:F2}× fewer{(plan.ReducesMemory ? "" : "; nonzero count only, memory unchanged")})");
        w.WriteLine($"  base memory  {plan.OriginalParameters * 2 / MemoryPlan.GiB:F2} GiB → {memory.BaseBytesBf16 / MemoryPlan.GiB:F2} GiB at BF16"
            + (nf4 ? $", {memory.BaseBytesNf4 / MemoryPlan.GiB:F2} GiB at NF4 ({plan.OriginalParameters * 2.0 / memory.BaseBytesNf4:F2}× less than the BF16 original)" : ""));
        w.WriteLine($"  LoRA r={memory.Rank}     {memory.LoraParameters:N0} parameters{(memory.LmHead ? " (with LM head)" : "")}: weights {memory.LoraBytes / 1048576.0:F1} MiB, gradients {memory.GradientBytes / 1048576.0:F1} MiB, AdamW {memory.OptimizerBytes / 1048576.0:F1} MiB (F32)");
    }
}
