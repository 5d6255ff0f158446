using LoRAM.Tests.Support;
using System.CommandLine;
using System.Text.Json;
using LoRAM.Cli;
using LoRAM.Llama;
using LoRAM.Planning;
using LoRAM.Pruning;

namespace LoRAM.Tests.Planning;

/// <summary>
/// The planner against the paper's published figures, from the models' Hugging Face config.json (written inline):
/// LLaMA-2-13B at 0.65 (Tables 4–6: 13,015,864,320 → 6,005,662,720, 2.17×, 11.19 GiB), and QLoRAM's parameter
/// storage reductions of the abstract, 16.95× for LLaMA-2-70B and 15.81× for LLaMA-3.1-70B (ratio 0.85, 4-bit).
/// </summary>
public class PlannerTests
{
    private const string Llama2_13B = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 5120, "intermediate_size": 13824, "max_position_embeddings": 4096,
         "model_type": "llama", "num_attention_heads": 40, "num_hidden_layers": 40, "num_key_value_heads": 40,
         "rms_norm_eps": 1e-05, "tie_word_embeddings": false, "torch_dtype": "float16", "vocab_size": 32000}
        """;
    private const string Llama2_70B = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 8192, "intermediate_size": 28672, "max_position_embeddings": 4096,
         "model_type": "llama", "num_attention_heads": 64, "num_hidden_layers": 80, "num_key_value_heads": 8,
         "rms_norm_eps": 1e-05, "tie_word_embeddings": false, "torch_dtype": "float16", "vocab_size": 32000}
        """;
    private const string Llama31_70B = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 8192, "intermediate_size": 28672, "max_position_embeddings": 131072,
         "model_type": "llama", "num_attention_heads": 64, "num_hidden_layers": 80, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
         "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256}
        """;

    [Fact]
    public void Llama2_13B_at_0_65_gives_the_papers_6_005_662_720_parameters_2_17x_and_11_19_GiB()
    {
        var plan = ParameterPlan.For(LlamaConfig.Parse(Llama2_13B), PruningMethod.Stru, 0.65);
        Assert.Equal(13_015_864_320, plan.OriginalParameters);
        Assert.Equal(6_005_662_720, plan.PrunedParameters);
        Assert.Equal(2.17, Math.Round(plan.ReductionRatio, 2));
        Assert.True(plan.ReducesMemory);
        // Layers 4..37 keep 40 − ⌊26⌋ = 14 heads and ⌊13824 · 0.35⌋ = 4838 channels.
        Assert.Equal(14, plan.Trained.HeadsAt(4));
        Assert.Equal(4838, plan.Trained.IntermediateAt(37));
        Assert.Equal(40, plan.Trained.HeadsAt(38));
        var memory = MemoryPlan.For(plan.Trained, rank: 8, baseParameters: plan.PrunedParameters);
        Assert.Equal(11.19, Math.Round(memory.BaseBytesBf16 / MemoryPlan.GiB, 2));
        // The built-in name is the same config.
        Assert.Equal(plan.PrunedParameters, ParameterPlan.For(ModelPresets.Get("llama-2-13b")!, PruningMethod.Stru, 0.65).PrunedParameters);
    }

    [Theory]
    [InlineData(nameof(Llama2_70B), "llama-2-70b", 68_976_648_192, 16_272_924_672, 4.24, 16.95)]
    [InlineData(nameof(Llama31_70B), "llama-3.1-70b", 70_553_706_496, 17_849_982_976, 3.95, 15.81)]
    public void QLoRAM_on_the_70B_models_at_0_85_reduces_parameter_storage_as_the_paper_states(string configName, string preset,
        long original, long pruned, double reduction, double qloramReduction)
    {
        var json = configName == nameof(Llama2_70B) ? Llama2_70B : Llama31_70B;
        var plan = ParameterPlan.For(LlamaConfig.Parse(json), PruningMethod.Stru, 0.85);
        Assert.Equal(original, plan.OriginalParameters);
        Assert.Equal(pruned, plan.PrunedParameters);
        Assert.Equal(reduction, Math.Round(plan.ReductionRatio, 2));
        // GQA: the unit is a key/value group; 8 − ⌊6.8⌋ = 2 groups = 16 query heads survive.
        Assert.Equal(2, plan.Trained.KvHeadsAt(10));
        Assert.Equal(16, plan.Trained.HeadsAt(10));
        var memory = MemoryPlan.For(plan.Trained, rank: 8, baseParameters: plan.PrunedParameters);
        Assert.Equal(qloramReduction, Math.Round(original * 2.0 / memory.BaseBytesNf4, 2));
        Assert.Equal(pruned, ParameterPlan.For(ModelPresets.Get(preset)!, PruningMethod.Stru, 0.85).PrunedParameters);
    }

    [Fact]
    public void Rand_counts_like_stru_and_non_structured_methods_count_nonzeros_without_shrinking_memory()
    {
        var config = LlamaConfig.Parse(Llama2_13B);
        Assert.Equal(ParameterPlan.For(config, PruningMethod.Stru, 0.65).PrunedParameters, ParameterPlan.For(config, PruningMethod.Rand, 0.65).PrunedParameters);
        var semi = ParameterPlan.For(config, PruningMethod.Semi, 0);
        long projections = 40L * (4L * 5120 * 5120 + 3L * 5120 * 13824);
        Assert.Equal(0.5, semi.Ratio);
        Assert.Equal("4:8", semi.NM);
        Assert.Equal(config.ParameterCount() - projections / 2, semi.PrunedParameters);
        Assert.False(semi.ReducesMemory);
        var unst = ParameterPlan.For(config, PruningMethod.Unst, 0.3);
        Assert.Equal(config.ParameterCount() - 40L * (4 * (long)Math.Floor(0.3 * 5120 * 5120) + 3 * (long)Math.Floor(0.3 * 5120 * 13824)), unst.PrunedParameters);
    }

    [Fact]
    public void LoRA_memory_counts_A_and_B_of_the_seven_projections_with_gradients_and_two_AdamW_moments()
    {
        var config = LlamaConfig.Parse(Llama2_13B);
        var memory = MemoryPlan.For(config, rank: 8);
        long perLayer = 8L * (4 * (5120 + 5120) + 2 * (5120 + 13824) + (13824 + 5120));
        Assert.Equal(40 * perLayer, memory.LoraParameters);   // 31,293,440: LoRA r=8 on all linear layers of LLaMA-2-13B
        Assert.Equal(4 * memory.LoraParameters, memory.GradientBytes);
        Assert.Equal(8 * memory.LoraParameters, memory.OptimizerBytes);
        Assert.Equal(40 * perLayer + 8L * (32000 + 5120), MemoryPlan.For(config, 8, lmHead: true).LoraParameters);
    }

    private static InProcessCli.Result Run(params string[] args) => InProcessCli.Run(PlanCommand.Create(), args);

    [Fact]
    public void Loram_plan_json_prints_the_papers_figures_for_a_built_in_name_and_for_a_config_file()
    {
        var (code, output, _) = Run("plan", "--config", "llama-2-13b", "--method", "stru", "--ratio", "0.65", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var r = doc.RootElement;
        Assert.Equal(13_015_864_320, r.GetProperty("original_parameters").GetInt64());
        Assert.Equal(6_005_662_720, r.GetProperty("pruned_parameters").GetInt64());
        Assert.Equal(2.17, r.GetProperty("reduction_ratio").GetDouble());
        Assert.Equal(11.19, r.GetProperty("parameter_memory_gib_bf16").GetDouble());

        var file = Path.Combine(Path.GetTempPath(), $"loram-plan-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, Llama2_70B);
        try
        {
            (code, output, _) = Run("plan", "--config", file, "--ratio", "0.85", "--nf4", "--json");
            Assert.Equal(0, code);
            using var doc2 = JsonDocument.Parse(output);
            Assert.Equal(16.95, doc2.RootElement.GetProperty("storage_reduction_ratio_nf4").GetDouble());
        }
        finally { File.Delete(file); }

        Assert.Equal(2, Run("plan", "--config", "llama-9", "--ratio", "0.5").Code);
        var (bad, _, message) = Run("plan", "--config", "llama-2-13b", "--ratio", "1.2");
        Assert.Equal(2, bad);
        Assert.Contains("pruning ratio must be in [0, 1)", message);
    }

    [Fact]
    public void Plan_without_ratio_says_the_ratio_it_assumes_and_plans_that_ratio()
    {
        var (code, output, error) = Run("plan", "--config", "llama-2-13b", "--json");
        Assert.Equal(0, code);
        Assert.Contains("no --ratio given; assuming --ratio 0.5", error);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal(0.5, json.RootElement.GetProperty("ratio").GetDouble());
        var explicitRatio = Run("plan", "--config", "llama-2-13b", "--ratio", "0.5", "--json");
        Assert.Equal(output, explicitRatio.Output);
        Assert.DoesNotContain("assuming", explicitRatio.Error);
    }
}
