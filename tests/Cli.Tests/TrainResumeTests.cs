using System.Diagnostics;
using LoRAM.Cli;
using LoRAM.Data;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tests.Support;
using LoRAM.Training;

namespace LoRAM.Tests.Cli;

/// <summary>A tiny model, instruction data and a LoRA run interrupted after one step (by --time-limit), made once.</summary>
public sealed class InterruptedTrainRun : IDisposable
{
    public TempFolder Dir { get; } = new();
    public string Model => Dir.File("model");
    public string Data => Dir.File("train.jsonl");
    public string Interrupted => Dir.File("interrupted");

    public InterruptedTrainRun()
    {
        TinyLlama.Write(Model, new TinyLlamaOptions { MaxPositions = 128 });
        AlpacaFile.Write(Data, new InstructionGenerator(World.Generate(3), 3).Generate(16));
        var r = TrainResumeTests.Train(Model, Data, Interrupted, "--time-limit", "0.000001");
        Assert.True(r.Code == 0, r.Error);
        Assert.Contains("stopped at step 1 of 4", r.Output);
    }

    /// <summary>A copy of the interrupted run's folder, for a test to resume (or damage).</summary>
    public string Copy(string name)
    {
        string to = Dir.File(name);
        foreach (var dir in Directory.GetDirectories(Interrupted, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(dir.Replace(Interrupted, to));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(Interrupted, "*", SearchOption.AllDirectories))
            File.Copy(file, file.Replace(Interrupted, to));
        return to;
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>
/// `loram train --resume` through the real CLI runner: a checkpoint records every setting that changes the adapter,
/// and a resume that differs in one is refused (exit 2, one line naming the flag and the checkpoint) before any work;
/// only the documented recovery moves — a lower --lr, a longer --warmup, and settings that change no number — pass.
/// </summary>
public sealed class TrainResumeTests(InterruptedTrainRun run) : IClassFixture<InterruptedTrainRun>
{
    /// <summary>`loram train` with the run's settings, <paramref name="extra"/> flags replacing them or added.</summary>
    internal static InProcessCli.Result Train(string model, string data, string outDir, params string[] extra)
    {
        var flags = new List<(string Flag, string? Value)>
        {
            ("--model", model), ("--data", data), ("--out", outDir), ("--steps", "4"), ("--batch", "2"), ("--micro-batch", "2"), ("--seq-len", "96"),
            ("--rank", "2"), ("--lr", "1e-3"), ("--warmup", "1"), ("--checkpoint-every", "1"), ("--device", "cpu"),
        };
        for (int i = 0; i < extra.Length; i++)
        {
            string? value = i + 1 < extra.Length && !extra[i + 1].StartsWith("--", StringComparison.Ordinal) ? extra[++i] : null;
            int at = flags.FindIndex(f => f.Flag == extra[value is null ? i : i - 1]);
            var entry = (extra[value is null ? i : i - 1], value);
            if (at >= 0) flags[at] = entry; else flags.Add(entry);
        }
        return InProcessCli.Run(TrainCommand.Create(), ["train", .. flags.SelectMany(f => f.Value is null ? new[] { f.Flag } : [f.Flag, f.Value])]);
    }

    private InProcessCli.Result Resume(string outDir, params string[] extra) => Train(run.Model, run.Data, outDir, ["--resume", .. extra]);

    private static string StateOf(string outDir) =>
        File.ReadAllText(Path.Combine(TrainingCheckpoint.Latest(Path.Combine(outDir, TrainingCheckpoint.FolderName))!, TrainingCheckpoint.StateFile));

    [Theory]
    [InlineData("--alpha", "32", "--alpha is 32 here but 16 in the checkpoint")]
    [InlineData("--lora-dropout", "0.1", "--lora-dropout is 0.1 here but 0.05 in the checkpoint")]
    [InlineData("--rslora", null, "--rslora is true here but false in the checkpoint")]
    [InlineData("--targets", "q_proj,v_proj", "--targets is q_proj,v_proj here but q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj in the checkpoint")]
    [InlineData("--nf4", null, "--nf4 is true here but false in the checkpoint")]
    [InlineData("--rank", "4", "--rank is 4 here but 2 in the checkpoint")]
    [InlineData("--seed", "2", "--seed is 2 here but 1 in the checkpoint")]
    [InlineData("--lr", "1e-2", "--lr is 0.01 here but 0.001 in the checkpoint")]
    [InlineData("--warmup", "0", "--warmup is 0 here but 1 in the checkpoint")]
    [InlineData("--micro-batch", "1", "--micro-batch is 1 here but 2 in the checkpoint")]
    [InlineData("--seq-len", "80", "--seq-len is 80 here but 96 in the checkpoint")]
    [InlineData("--steps", "5", "--steps is 5 here but 4 in the checkpoint")]
    public void A_resume_with_a_setting_that_changes_the_adapter_is_refused_naming_it(string flag, string? value, string message)
    {
        string outDir = run.Copy("changed" + flag + value);
        string before = StateOf(outDir);
        var clock = Stopwatch.StartNew();
        var r = Resume(outDir, value is null ? [flag] : [flag, value]);
        Assert.Equal(2, r.Code);
        var line = InProcessCli.OneErrorLine(r, "cannot resume: " + message, TrainingCheckpoint.NameOf(1));
        Assert.DoesNotContain("resumed from", r.Error);   // refused before any work
        Assert.Equal(before, StateOf(outDir));
        Assert.False(File.Exists(Path.Combine(outDir, PeftAdapterFormatFile)), line);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30));
    }

    private const string PeftAdapterFormatFile = "adapter_model.safetensors";

    [Fact]
    public void A_resume_on_other_data_with_the_same_record_count_is_refused()
    {
        string outDir = run.Copy("other-data");
        string data = run.Dir.File("other-train.jsonl");
        AlpacaFile.Write(data, new InstructionGenerator(World.Generate(4), 4).Generate(16));
        var r = Train(run.Model, data, outDir, "--resume");
        Assert.Equal(2, r.Code);
        InProcessCli.OneErrorLine(r, "cannot resume: --data (SHA-256) is ", " in the checkpoint ");
    }

    [Fact]
    public void A_resume_on_other_weights_of_the_same_shapes_is_refused()
    {
        string outDir = run.Copy("other-model");
        string model = run.Dir.File("other-model-weights");
        TinyLlama.Write(model, new TinyLlamaOptions { MaxPositions = 128, Seed = 2 });
        var r = Train(model, run.Data, outDir, "--resume");
        Assert.Equal(2, r.Code);
        InProcessCli.OneErrorLine(r, "cannot resume: --model (content) is ", " in the checkpoint ");
    }

    [Fact]
    public void A_resume_with_a_lower_lr_a_longer_warmup_and_other_intervals_continues_to_the_end()
    {
        string outDir = run.Copy("recovery-moves");
        var r = Resume(outDir, "--lr", "5e-4", "--warmup", "2", "--checkpoint-every", "2", "--eval-every", "3", "--time-limit", "3600");
        Assert.True(r.Code == 0, r.Error);
        Assert.Contains("resumed from", r.Error);
        Assert.Contains("wrote adapter", r.Output);
        Assert.Contains("\"--lr\": \"0.0005\"", StateOf(outDir));   // the next resume must go from the new lr
    }

    [Fact]
    public void A_real_divergence_exits_3_and_a_resume_with_a_lower_lr_is_allowed_and_finishes()
    {
        string outDir = run.Dir.File("diverged");
        // lr 1e38: the first update (step 2, after one warm-up step at lr 0) leaves weights of 1e38, whose loss overflows.
        var r = Train(run.Model, run.Data, outDir, "--lr", "1e38");
        Assert.Equal(3, r.Code);
        var line = r.Error.Split('\n').Single(l => l.StartsWith("loram: training stopped: ", StringComparison.Ordinal));
        Assert.Contains("at step 3", line);
        Assert.Contains(TrainingCheckpoint.NameOf(1), line);   // the step-2 checkpoint holds the diverged weights: set aside
        Assert.True(Directory.Exists(Path.Combine(outDir, TrainingCheckpoint.FolderName, "diverged-" + TrainingCheckpoint.NameOf(2))));

        var higher = Train(run.Model, run.Data, outDir, "--resume", "--lr", "1e39");
        Assert.Equal(2, higher.Code);
        InProcessCli.OneErrorLine(higher, "--lr is 1E+39 here but 1E+38 in the checkpoint");

        var resumed = Train(run.Model, run.Data, outDir, "--resume", "--lr", "1e-3");
        Assert.True(resumed.Code == 0, resumed.Error);
        Assert.Contains("resumed from", resumed.Error);
        Assert.Contains(TrainingCheckpoint.NameOf(1), resumed.Error);
        Assert.True(File.Exists(Path.Combine(outDir, PeftAdapterFormatFile)));
    }

    // ---- a damaged checkpoint: one line naming the file and the field, exit 2 (never an internal error) ----

    [Theory]
    [InlineData("{\"format\": \"loram-trainer-checkpoint/2\", \"step\": ", "not valid JSON")]
    [InlineData("[1, 2]", "not a JSON object")]
    [InlineData("step:null", "field 'step' is null")]
    [InlineData("step:-1", "field 'step' is -1, outside [1, 4]")]
    [InlineData("step:1e30", "field 'step' is 1e30, not a whole number")]
    [InlineData("step:\"one\"", "field 'step' is \"one\", not a whole number")]
    [InlineData("tokens_seen:-5", "field 'tokens_seen' is -5")]
    [InlineData("seconds:\"x\"", "field 'seconds' is \"x\", not a finite number")]
    [InlineData("settings:null", "field 'settings' is null")]
    [InlineData("-step", "field 'step' is missing")]
    [InlineData("-data", "field 'data' is missing")]
    [InlineData("data.index:-3", "field 'data.index' is -3")]
    [InlineData("data.epoch:null", "field 'data.epoch' is null")]
    [InlineData("format:\"loram-trainer-checkpoint/1\"", "format is \"loram-trainer-checkpoint/1\"")]
    public void A_damaged_trainer_state_is_refused_naming_the_file_and_field(string damage, string message)
    {
        string outDir = run.Copy("damaged" + Math.Abs(damage.GetHashCode()));
        string state = Path.Combine(TrainingCheckpoint.Latest(Path.Combine(outDir, TrainingCheckpoint.FolderName))!, TrainingCheckpoint.StateFile);
        File.WriteAllText(state, Damage(File.ReadAllText(state), damage));
        var r = Resume(outDir);
        Assert.Equal(2, r.Code);
        InProcessCli.OneErrorLine(r, "loram: error: cannot resume: ", state, message);
    }

    /// <summary>"field:json" sets a field (data.x inside data), "-field" removes it, anything else replaces the file.</summary>
    private static string Damage(string json, string damage)
    {
        if (damage.StartsWith('{') || damage.StartsWith('[')) return damage;
        var root = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        var (obj, key) = damage.TrimStart('-').Split(':')[0] is var path && path.StartsWith("data.", StringComparison.Ordinal)
            ? (root["data"]!.AsObject(), path[5..]) : (root, path);
        if (damage.StartsWith('-')) obj.Remove(key);
        else obj[key] = System.Text.Json.Nodes.JsonNode.Parse(damage[(damage.IndexOf(':') + 1)..]);
        return root.ToJsonString();
    }

    [Theory]
    [InlineData("1,x,2.5,0.001,1,,10,0.1", "field 'tokens' is 'x'")]
    [InlineData("1,100,abc,0.001,1,,10,0.1", "field 'loss' is 'abc'")]
    [InlineData("1,100", "expected 8 fields, found 2")]
    public void A_bad_loss_curve_row_is_refused_naming_the_file_and_field(string row, string message)
    {
        string outDir = run.Copy("curve" + Math.Abs(row.GetHashCode()));
        string curve = Path.Combine(TrainingCheckpoint.Latest(Path.Combine(outDir, TrainingCheckpoint.FolderName))!, LossCurve.FileName);
        File.WriteAllText(curve, LossCurve.Header + "\n" + row + "\n");
        var r = Resume(outDir);
        Assert.Equal(2, r.Code);
        InProcessCli.OneErrorLine(r, curve, message);
    }
}
