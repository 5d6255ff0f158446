using System.Text.Json.Nodes;
using LoRAM.Llama;
using LoRAM.Planning;
using LoRAM.Pruning;

namespace LoRAM.Tests.Planning;

/// <summary>
/// <c>loram plan</c> works from a config alone, so nothing from weights bounds it: LlamaConfig's own bounds
/// (≤ <see cref="LlamaConfig.MaxLayers"/> layers, ≤ <see cref="LlamaConfig.MaxParameters"/> parameters) must. The
/// largest legal config plans with every method in ≤ 64 MB allocated on the planning thread and ≤ 10 s; one layer more
/// is refused at parse. (A num_hidden_layers of a billion used to grow plan by ~100 MB/s, building per-layer lists.)
/// </summary>
public sealed class HostilePlanTests
{
    [Fact]
    public void The_largest_legal_config_plans_in_bounded_memory_and_time_with_every_method()
    {
        var config = LlamaConfig.Parse(Json(LlamaConfig.MaxLayers));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (var method in Enum.GetValues<PruningMethod>())
        {
            var plan = ParameterPlan.For(config, method, 0.5);
            var memory = MemoryPlan.For(plan.Trained, rank: 8, baseParameters: plan.ReducesMemory ? plan.PrunedParameters : plan.OriginalParameters);
            Assert.True(plan.PrunedParameters > 0 && plan.PrunedParameters < plan.OriginalParameters, $"{method}");
            Assert.True(memory.LoraParameters > 0);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated <= 64_000_000, $"planning allocated {allocated / 1e6:F1} MB, bound 64 MB");
        Assert.True(clock.Elapsed.TotalSeconds <= 10, $"planning took {clock.Elapsed.TotalSeconds:F1} s, bound 10 s");
    }

    [Theory]
    [InlineData(LlamaConfig.MaxLayers + 1)]
    [InlineData(1_000_000_000)]
    public void More_layers_than_the_bound_are_refused_naming_the_field(int layers)
    {
        var e = Assert.Throws<LlamaFormatException>(() => LlamaConfig.Parse(Json(layers), "big/config.json"));
        Assert.Contains("big/config.json", e.Message);
        Assert.Contains("num_hidden_layers", e.Message);
    }

    private static string Json(int layers) => new JsonObject
    {
        ["hidden_size"] = 4096, ["num_hidden_layers"] = layers, ["num_attention_heads"] = 32, ["num_key_value_heads"] = 8,
        ["intermediate_size"] = 14336, ["vocab_size"] = 128256,
    }.ToJsonString();
}
