using LoRAM.Llama.Tests.Support;
using System.CommandLine;
using System.Text.Json;
using LoRAM.Cli;
using LoRAM.Llama.Model;
using LoRAM.Pruning;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Pruning;

public class PruneCommandTests
{
    private static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(PruneCommand.Create(), args);

    [Fact]
    public void Loram_prune_stru_writes_a_loadable_smaller_model_and_a_json_summary()
    {
        using var dir = new TempFolder();
        var src = Path.Combine(dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 4, KvHeads = 2 });
        var output = Path.Combine(dir.Path, "pruned");
        var (code, text, _) = Run("prune", "--model", src, "--method", "stru", "--ratio", "0.5", "--out", output, "--samples", "3",
            "--seq-len", "16", "--keep-first", "1", "--keep-last", "1", "--device", "cpu", "--json");
        Assert.Equal(0, code);
        using var summary = JsonDocument.Parse(text);
        var r = summary.RootElement;
        Assert.Equal("stru", r.GetProperty("method").GetString());
        Assert.True(r.GetProperty("parameters_after").GetInt64() < r.GetProperty("parameters_before").GetInt64());
        Assert.True(r.GetProperty("reduces_memory").GetBoolean());
        Assert.Equal(3, r.GetProperty("samples").GetInt32());
        Assert.True(File.Exists(Path.Combine(output, PruningRecord.FileName)));
        Assert.True(File.Exists(Path.Combine(output, "loram_tokenizer.json")));   // the tokenizer travels with the model
        using var cpu = new CpuBackend(1);
        using var model = LlamaModel.Load(output, cpu);
        Assert.Equal(r.GetProperty("parameters_after").GetInt64(), model.Config.ParameterCount());
        Assert.Equal("taylor-element", PruningRecord.LoadFor(output).Importance);
    }

    [Fact]
    public void Bad_input_is_one_line_and_leaves_nothing_behind()
    {
        using var dir = new TempFolder();
        var src = Path.Combine(dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { Layers = 2 });
        var output = Path.Combine(dir.Path, "out");
        Assert.Contains("unknown pruning method 'half'", Run("prune", "--model", src, "--method", "half", "--ratio", "0.5", "--out", output).Error);
        Assert.Contains("--ratio is required for unst", Run("prune", "--model", src, "--method", "unst", "--out", output).Error);
        Assert.Contains("--nm must be N:M", Run("prune", "--model", src, "--method", "semi", "--nm", "8:4", "--out", output).Error);
        Assert.Contains("--nm applies to semi", Run("prune", "--model", src, "--method", "stru", "--nm", "2:4", "--ratio", "0.5", "--out", output).Error);
        Assert.Contains("not a model folder", Run("prune", "--model", dir.Path, "--method", "rand", "--ratio", "0.5", "--out", output).Error);
        Assert.Contains("--ratio must be in [0, 1)", Run("prune", "--model", src, "--method", "rand", "--ratio", "1", "--out", output).Error);
        // The structured defaults keep 4 + 2 layers whole: on this 2-layer model nothing would be pruned, so it is refused.
        var keepAll = Run("prune", "--model", src, "--method", "stru", "--ratio", "0.5", "--out", output);
        Assert.Equal(2, keepAll.Code);
        Assert.Contains("--keep-first 4 + --keep-last 2 keep all 2 layers", keepAll.Error);
        Assert.Contains("--keep-first 1 + --keep-last 1 keep all 2 layers",
            Run("prune", "--model", src, "--method", "unst", "--ratio", "0.5", "--keep-first", "1", "--keep-last", "1", "--out", output).Error);
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "x");
        Assert.Contains("already exists and is not empty", Run("prune", "--model", src, "--method", "rand", "--ratio", "0.5", "--out", output).Error);
        Assert.Equal(["keep.txt"], Directory.GetFiles(output).Select(Path.GetFileName));
        Assert.Equal(2, Directory.GetDirectories(dir.Path).Length);   // model and out: no temp folders
    }
}
