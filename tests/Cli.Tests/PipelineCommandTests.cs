using System.Text.Json;
using LoRAM.Cli;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

/// <summary><c>loram pipeline</c>'s flags for seeds, learning rates and LoRA targets reach the options the run reports.
/// (Bad values of each: <see cref="OptionValidationTests"/>.)</summary>
public sealed class PipelineCommandTests
{
    private static JsonElement Options(string outDir)
    {
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        return report.RootElement.GetProperty("options").Clone();
    }

    [Fact]
    public void Seeds_lr_sweep_lr_validation_items_and_targets_reach_the_options_and_a_rerun_with_other_seeds_or_rates_reuses_the_folder()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.File("models/base"), new TinyLlamaOptions { MaxPositions = 512 });
        TinyLlama.Write(dir.File("models/sibling"), new TinyLlamaOptions { MaxPositions = 512, Seed = 2 });
        string[] common = ["pipeline", "--models", dir.File("models"), "--out", dir.File("run"), "--variants", "base", "--eval-items", "2", "--math-items", "1",
            "--validation-items", "5", "--targets", "q_proj, lm_head"];
        var r = InProcessCli.Run(PipelineCommand.Create(), [.. common, "--seeds", "2", "--lr", "2e-3", "--sweep-lr"]);
        Assert.True(r.Code == 0, r.Error);
        var o = Options(dir.File("run"));
        Assert.Equal(2, o.GetProperty("seeds").GetInt32());
        Assert.Equal(2e-3, o.GetProperty("learning_rate").GetDouble());
        Assert.Equal([1e-4, 3e-4, 1e-3, 3e-3], o.GetProperty("sweep_lr").EnumerateArray().Select(e => e.GetDouble()));   // no value: the default grid
        Assert.Equal(5, o.GetProperty("validation_items").GetInt32());
        Assert.Equal(["q_proj", "lm_head"], o.GetProperty("targets").EnumerateArray().Select(e => e.GetString()));

        // Seeds and rates are in the rows' paths, not the folder's fingerprint: the same folder serves this run too.
        r = InProcessCli.Run(PipelineCommand.Create(), [.. common, "--sweep-lr", "1e-4,0.01"]);
        Assert.True(r.Code == 0, r.Error);
        o = Options(dir.File("run"));
        Assert.Equal(1, o.GetProperty("seeds").GetInt32());
        Assert.Equal(1e-3, o.GetProperty("learning_rate").GetDouble());
        Assert.Equal([1e-4, 1e-2], o.GetProperty("sweep_lr").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Contains("done earlier", r.Error);
    }
}
