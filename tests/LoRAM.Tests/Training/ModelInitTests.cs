using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Planning;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Training;

namespace LoRAM.Tests.Training;

/// <summary><c>loram init</c>'s job: a random-weight folder in Hugging Face's layout that loads, is the seed's
/// weights exactly, shards with a valid index, and is written without holding the model in memory.</summary>
public class ModelInitTests
{
    private static LlamaConfig Tiny(int vocab = 259, bool tied = false) => TinyTraining.Config() with { VocabSize = vocab, TieWordEmbeddings = tied };

    private static byte[] WeightBytes(string folder) => File.ReadAllBytes(Path.Combine(folder, ModelFolder.Weights));

    [Fact]
    public void A_tiny_config_loads_with_the_configs_shapes_in_bf16_and_a_seed_names_the_bytes()
    {
        using var dir = new TempFolder();
        string a = dir.File("a"), b = dir.File("b"), c = dir.File("c");
        var config = Tiny(tied: true);
        var report = ModelInit.Run(new InitOptions { Config = config, Out = a, Seed = 3 });
        ModelInit.Run(new InitOptions { Config = config, Out = b, Seed = 3 });
        ModelInit.Run(new InitOptions { Config = config, Out = c, Seed = 4 });

        Assert.Equal(config.ParameterCount(), report.Parameters);
        Assert.Equal(config.ParameterCount() * 2, report.Bytes);
        Assert.Equal([ModelFolder.Weights, ModelFolder.Config], report.Files);
        using (var checkpoint = SafetensorsCheckpoint.Open(a))
            foreach (var (name, shape) in LlamaTensorNames.Expected(config))
            {
                Assert.Equal(shape, checkpoint[name].Shape);
                Assert.Equal(DType.BF16, checkpoint[name].DType);
            }
        Assert.Equal("bfloat16", LlamaConfig.Load(Path.Combine(a, ModelFolder.Config)).TorchDtype);
        using var cpu = new CpuBackend(1);
        using (var model = LlamaModel.Load(a, cpu))
            Assert.Equal(DType.BF16, model.Embedding.Value.DType);   // frozen weights load as stored
        Assert.Equal(WeightBytes(a), WeightBytes(b));
        Assert.NotEqual(WeightBytes(a), WeightBytes(c));
    }

    [Fact]
    public void F32_weights_are_the_initializers_own_even_for_a_tensor_written_in_several_pieces()
    {
        using var dir = new TempFolder();
        var config = Tiny(vocab: 40_000);   // embedding 40000×32 = 1.28M elements: two pieces
        Assert.True(config.VocabSize * config.HiddenSize > ModelInit.PieceElements);
        ModelInit.Run(new InitOptions { Config = config, Out = dir.Path, Seed = 5, DType = DType.F32 });
        using var cpu = new CpuBackend(1);
        using var expected = LlamaInitializer.Create(config, cpu, 5);
        using var written = LlamaWeights.Load(dir.Path, cpu);
        foreach (var (name, t) in expected.Tensors)
            Assert.True(t.ToArray<byte>().AsSpan().SequenceEqual(written[name].ToArray<byte>()), name);
    }

    [Fact]
    public void Above_the_shard_limit_the_weights_are_sharded_with_an_index_that_loads_the_same_model()
    {
        using var dir = new TempFolder();
        string single = dir.File("single"), sharded = dir.File("sharded");
        var config = Tiny();
        ModelInit.Run(new InitOptions { Config = config, Out = single, Seed = 2 });
        var report = ModelInit.Run(new InitOptions { Config = config, Out = sharded, Seed = 2, MaxShardBytes = 20_000 });

        var shards = report.Files.Where(f => f.EndsWith(".safetensors")).ToList();
        Assert.True(shards.Count >= 3, string.Join(", ", report.Files));
        Assert.All(shards, (f, i) => Assert.Equal($"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors", f));
        Assert.Contains(ModelFolder.WeightsIndex, report.Files);
        Assert.False(File.Exists(Path.Combine(sharded, ModelFolder.Weights)));
        var index = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(sharded, ModelFolder.WeightsIndex)))!;
        Assert.Equal(config.ParameterCount() * 2, index["metadata"]!["total_size"]!.GetValue<long>());
        Assert.Equal(LlamaTensorNames.Expected(config).Count(), index["weight_map"]!.AsObject().Count);
        foreach (var f in shards) Assert.True(new FileInfo(Path.Combine(sharded, f)).Length < 20_000 + 4096, f);

        using var cpu = new CpuBackend(1);
        using var a = LlamaWeights.Load(single, cpu);
        using var b = LlamaWeights.Load(sharded, cpu);
        foreach (var (name, t) in a.Tensors)
            Assert.True(t.ToArray<byte>().AsSpan().SequenceEqual(b[name].ToArray<byte>()), name);
    }

    [Fact]
    public void Writing_a_230_MB_model_allocates_under_16_MB()
    {
        // 4 layers of hidden 1024 / MLP 2816 (50M) + untied 32000-token embedding and head (65.5M) = 116M parameters, 232 MB in BF16.
        var config = new LlamaConfig
        {
            HiddenSize = 1024, NumHiddenLayers = 4, NumAttentionHeads = 16, NumKeyValueHeads = 16, IntermediateSize = 2816,
            VocabSize = 32000, HeadDim = 64, RmsNormEps = 1e-5,
        };
        using var dir = new TempFolder();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var report = ModelInit.Run(new InitOptions { Config = config, Out = dir.Path, MaxShardBytes = 100_000_000 });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(report.Bytes > 220_000_000, $"{report.Bytes}");
        // This thread's allocations (tests run in parallel). The bound: one piece of floats (4 MB) and of bytes (2 MB), the file buffers and the headers — not the model.
        Assert.True(allocated < 16L << 20, $"init allocated {allocated / 1048576.0:F1} MiB for a {report.Bytes / 1048576.0:F0} MiB model");
        Assert.Equal(3, report.Files.Count(f => f.EndsWith(".safetensors")));
    }

    [Theory]
    [InlineData("smollm-135m", 134_515_008L)]
    [InlineData("tinyllama-1.1b", 1_100_048_384L)]
    [InlineData("llama-2-7b", 6_738_415_616L)]
    [InlineData("llama-2-13b", 13_015_864_320L)]
    [InlineData("llama-3.1-8b", 8_030_261_248L)]
    public void Built_in_shapes_have_the_published_parameter_counts(string name, long parameters) =>
        Assert.Equal(parameters, ModelPresets.Get(name)!.ParameterCount());
}
