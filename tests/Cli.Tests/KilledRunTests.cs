using System.Diagnostics;
using LoRAM.Data;
using LoRAM.Training;
using LoRAM.Tests.Training;

namespace LoRAM.Tests.Cli;

/// <summary><c>loram pretrain</c> in a real child process, killed mid-run and resumed with <c>--resume</c>: the loss
/// curve and the final weights equal an uninterrupted run's exactly.</summary>
public sealed class KilledRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-killed-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly string Loram = Path.Combine(AppContext.BaseDirectory, "loram.dll");

    private Process Start(string outDir, string config, string corpus, bool resume)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { Loram, "pretrain", "--config", config, "--data", corpus, "--tokens", "20480", "--out", outDir, "--seq-len", "64",
                     "--batch", "8", "--micro-batch", "4", "--lr", "1e-2", "--checkpoint-every", "4", "--eval-every", "10", "--eval-sequences", "4",
                     "--device", "cpu", "--log-every", "1" })
            psi.ArgumentList.Add(a);
        if (resume) psi.ArgumentList.Add("--resume");
        psi.Environment["LORAM_THREADS"] = "1";
        return Process.Start(psi)!;
    }

    private static (int Code, string Error) Finish(Process p)
    {
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stderr.Result);
    }

    [Fact]
    public void Killed_and_resumed_pretraining_repeats_the_uninterrupted_loss_curve_and_weights()
    {
        string config = Path.Combine(_dir, "tiny.json");
        File.WriteAllText(config, TinyTraining.Config().ToJson());
        string corpus = Path.Combine(_dir, "corpus.txt");
        PlainTextCorpus.Write(corpus, TinyTraining.Documents(200));

        string full = Path.Combine(_dir, "full"), killed = Path.Combine(_dir, "killed");
        var (code, error) = Finish(Start(full, config, corpus, resume: false));
        Assert.True(code == 0, error);

        // Kill the second run as soon as its first checkpoint exists (mid-run, possibly mid-save of the next one).
        using (var p = Start(killed, config, corpus, resume: false))
        {
            p.StandardOutput.ReadToEndAsync();
            p.StandardError.ReadToEndAsync();
            var clock = Stopwatch.StartNew();
            while (TrainingCheckpoint.Latest(Path.Combine(killed, TrainingCheckpoint.FolderName)) is null && !p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60))
                Thread.Sleep(5);
            if (!p.HasExited) p.Kill();
            p.WaitForExit();
        }
        var before = LossCurve.Read(Path.Combine(killed, LossCurve.FileName));
        Assert.True(before.Count < 40, $"the run finished ({before.Count} steps) before it could be killed");

        (code, error) = Finish(Start(killed, config, corpus, resume: true));
        Assert.True(code == 0, error);
        Assert.Contains("resumed from", error);

        var expected = LossCurve.Read(Path.Combine(full, LossCurve.FileName));
        var actual = LossCurve.Read(Path.Combine(killed, LossCurve.FileName));
        Assert.Equal(40, expected.Count);
        Assert.Equal(expected.Select(r => (r.Step, r.Tokens, r.Loss, r.LearningRate, r.GradNorm, r.EvalLoss)),
                     actual.Select(r => (r.Step, r.Tokens, r.Loss, r.LearningRate, r.GradNorm, r.EvalLoss)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(full, "model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "model.safetensors")));
    }
}
