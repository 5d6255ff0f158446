using LoRAM.Tests.Support;
using System.CommandLine;
using System.Text.Json;
using LoRAM.Autograd;
using LoRAM.Cli;
using LoRAM.Data;
using LoRAM.Defaults;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Training;

namespace LoRAM.Tests.Training;

public sealed class PretrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-pretrain-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(PretrainCommand.Create(), args);

    private (string Config, string Corpus) TinyInputs()
    {
        string config = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(config, TinyTraining.Config().ToJson());
        string corpus = Path.Combine(_dir, "corpus.txt");
        PlainTextCorpus.Write(corpus, TinyTraining.Documents(80));
        return (config, corpus);
    }

    [Fact]
    public void The_recipe_rerun_for_100_steps_from_the_same_seed_gives_bit_identical_weights()
    {
        // The shipped sibling's own config and recipe (seeded init, seeded data order), shortened to 100 small steps.
        var (_, corpus) = TinyInputs();
        byte[] Weights(string name)
        {
            string outDir = Path.Combine(_dir, name);
            var (code, _, error) = Run("pretrain", "--config", "sibling", "--data", corpus, "--tokens", "3200", "--out", outDir,
                "--seq-len", "16", "--batch", "2", "--seed", "7", "--eval-sequences", "0", "--dtype", "bf16", "--device", "cpu");
            Assert.True(code == 0, error);
            Assert.Contains("step 100/100", error);
            return File.ReadAllBytes(Path.Combine(outDir, "model.safetensors"));
        }
        Assert.Equal(Weights("first"), Weights("second"));
    }

    [Fact]
    public void Pretrain_writes_a_loadable_model_a_loss_curve_and_a_report()
    {
        var (config, corpus) = TinyInputs();
        string outDir = Path.Combine(_dir, "out");
        var (code, output, error) = Run("pretrain", "--config", config, "--data", corpus, "--tokens", "1536", "--out", outDir,
            "--seq-len", "32", "--batch", "4", "--micro-batch", "2", "--lr", "1e-2", "--checkpoint-every", "4", "--eval-every", "6",
            "--eval-sequences", "4", "--device", "cpu", "--json");
        Assert.True(code == 0, error);
        Assert.Contains("step 12/12", error);   // progress goes to stderr

        using var report = JsonDocument.Parse(output);
        var r = report.RootElement;
        Assert.Equal(12, r.GetProperty("steps").GetInt32());                 // ceil(1536 / (4 × 32))
        Assert.Equal(1536, r.GetProperty("tokens_seen").GetInt64());
        Assert.True(r.GetProperty("final_loss").GetDouble() < r.GetProperty("first_loss").GetDouble());
        Assert.True(r.GetProperty("final_eval_loss").GetDouble() > 0);
        Assert.True(r.GetProperty("peak_memory_bytes").GetProperty("OptimizerState").GetInt64() > 0);
        Assert.Equal(output.Trim(), File.ReadAllText(Path.Combine(outDir, LoRAM.Training.Pretraining.ReportFile)).Trim());

        var curve = LossCurve.Read(Path.Combine(outDir, LossCurve.FileName));
        Assert.Equal(Enumerable.Range(1, 12), curve.Select(c => c.Step));
        Assert.Equal([6, 12], curve.Where(c => c.EvalLoss is not null).Select(c => c.Step));

        // OUT is a Hugging Face folder the model loader and tokenizer loader accept.
        Assert.IsType<ByteTokenizer>(Tokenizers.Load(outDir));
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(outDir, cpu);
        using var tape = new Tape(cpu);
        using var _ = tape.NoGrad();
        using var ids = Tensor.FromArray(cpu, new ByteTokenizer().Encode("Ada lives in"), 1, 13);
        Assert.All(model.Forward(tape, ids).Value.ToFloatArray(), v => Assert.True(float.IsFinite(v)));
        Assert.Equal([8, 12], TrainingCheckpoint.List(Path.Combine(outDir, TrainingCheckpoint.FolderName)).Select(c => c.Step));

        // A second run into the same folder must say --resume; with it, a finished run has nothing left to do.
        var again = Run("pretrain", "--config", config, "--data", corpus, "--tokens", "1536", "--out", outDir, "--seq-len", "32", "--batch", "4");
        Assert.Equal(2, again.Code);
        Assert.Contains("--resume", again.Error);
        var resumed = Run("pretrain", "--config", config, "--data", corpus, "--tokens", "1536", "--out", outDir,
            "--seq-len", "32", "--batch", "4", "--micro-batch", "2", "--lr", "1e-2", "--checkpoint-every", "4", "--eval-every", "6",
            "--eval-sequences", "4", "--device", "cpu", "--resume");
        Assert.True(resumed.Code == 0, resumed.Error);
        Assert.Contains("resumed from", resumed.Error);
    }

    [Fact]
    public void A_time_limited_run_stops_with_a_checkpoint_and_resume_finishes_it()
    {
        var (config, corpus) = TinyInputs();
        string outDir = Path.Combine(_dir, "boxed");
        string[] common = ["pretrain", "--config", config, "--data", corpus, "--tokens", "1024", "--out", outDir, "--seq-len", "32", "--batch", "4",
                           "--checkpoint-every", "0", "--eval-sequences", "0", "--device", "cpu", "--json"];
        var (code, output, error) = Run([.. common, "--time-limit", "0.000001"]);
        Assert.True(code == 0, error);
        using (var report = JsonDocument.Parse(output))
        {
            Assert.False(report.RootElement.GetProperty("completed").GetBoolean());
            Assert.Equal(1, report.RootElement.GetProperty("steps").GetInt32());
        }
        Assert.False(File.Exists(Path.Combine(outDir, "model.safetensors")));   // no final model from an unfinished run
        Assert.Equal([1], TrainingCheckpoint.List(Path.Combine(outDir, TrainingCheckpoint.FolderName)).Select(c => c.Step));

        (code, output, error) = Run([.. common, "--resume"]);
        Assert.True(code == 0, error);
        using (var report = JsonDocument.Parse(output))
            Assert.True(report.RootElement.GetProperty("completed").GetBoolean());
        Assert.Equal(Enumerable.Range(1, 8), LossCurve.Read(Path.Combine(outDir, LossCurve.FileName)).Select(r => r.Step));
        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors")));
    }

    [Fact]
    public void Bad_flags_are_one_line_user_errors()
    {
        var (config, corpus) = TinyInputs();
        string outDir = Path.Combine(_dir, "bad");
        Assert.Contains("--micro-batch", ExpectError("--batch", "4", "--micro-batch", "3"));
        Assert.Contains("no such corpus", ExpectError("--data", Path.Combine(_dir, "missing.txt")));
        Assert.Contains("too few", ExpectError("--seq-len", "100", "--eval-sequences", "1000"));
        Assert.Contains("--resume given", ExpectError("--resume"));
        Assert.Contains("no such config", ExpectError("--config", Path.Combine(_dir, "nope.json")));

        string ExpectError(params string[] overrides)
        {
            var args = new Dictionary<string, string?> { ["--config"] = config, ["--data"] = corpus, ["--tokens"] = "256", ["--out"] = outDir, ["--seq-len"] = "32" };
            for (int i = 0; i < overrides.Length; i++)
                args[overrides[i]] = i + 1 < overrides.Length && !overrides[i + 1].StartsWith("--") ? overrides[++i] : null;
            var (code, _, error) = Run(["pretrain", .. args.SelectMany(kv => kv.Value is null ? new[] { kv.Key } : new[] { kv.Key, kv.Value })]);
            Assert.Equal(2, code);
            Assert.DoesNotContain("\n", error.Trim());
            return error;
        }
    }

    [Fact]
    public void Embedded_defaults_parse_with_the_byte_vocabulary_and_gqa()
    {
        var b = DefaultModels.Config("base");
        var s = DefaultModels.Config("sibling");
        Assert.Equal(new ByteTokenizer().VocabSize, b.VocabSize);
        Assert.Equal(b.VocabSize, s.VocabSize);
        Assert.True(b.NumKeyValueHeads < b.NumAttentionHeads);
        double ratio = (double)s.ParameterCount() / b.ParameterCount();
        Assert.InRange(ratio, 0.5, 0.6);   // the sibling is about half the base, as 7B : 13B is 0.52 (Defaults/README.md: 0.55)
    }
}
