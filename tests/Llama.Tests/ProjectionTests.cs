using LoRAM.Llama.Tests.Support;

namespace LoRAM.Llama.Tests;

/// <summary>The seven projections as a closed set: names, blocks and shapes as Hugging Face checkpoints have them.</summary>
public sealed class ProjectionTests
{
    [Fact]
    public void Names_blocks_and_order_are_hugging_faces()
    {
        Assert.Equal(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], Projection.All.Select(p => p.Module));
        Assert.Equal("model.layers.3.self_attn.k_proj", Projection.K.Path(3));
        Assert.Equal("model.layers.0.mlp.down_proj.weight", Projection.Down.WeightName(0));
        Assert.Equal(Projection.All.Select((p, i) => i), Projection.All.Select(p => p.Index));
        Assert.Same(Projection.Up, Projection.Parse("up_proj"));
        Assert.Null(Projection.Find("lm_head"));
        Assert.Contains("no projection 'qkv_proj'", Assert.Throws<ArgumentException>(() => Projection.Parse("qkv_proj")).Message);
    }

    [Fact]
    public void Shapes_equal_the_checkpoint_shapes_of_a_gqa_config()
    {
        var config = TinyLlama.Config(new TinyLlamaOptions { Layers = 2, Hidden = 32, Heads = 4, KvHeads = 2, Intermediate = 48 });
        var expected = LlamaTensorNames.Expected(config).ToDictionary(e => e.Name, e => e.Shape);
        for (int l = 0; l < config.NumHiddenLayers; l++)
            foreach (var p in Projection.All)
            {
                var (outF, inF) = p.Shape(config, l);
                Assert.Equal(expected[p.WeightName(l)], new[] { outF, inF });
            }
        // What structured pruning may remove: never the residual stream.
        Assert.Equal((ProjectionAxis.QueryHeads, ProjectionAxis.Hidden), (Projection.Q.Rows, Projection.Q.Columns));
        Assert.Equal((ProjectionAxis.Hidden, ProjectionAxis.QueryHeads), (Projection.O.Rows, Projection.O.Columns));
        Assert.Equal((ProjectionAxis.Hidden, ProjectionAxis.Channels), (Projection.Down.Rows, Projection.Down.Columns));
    }
}
