using LoRAM.Autograd;
using LoRAM.Llama.Generation;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Llama.Tests.Model;

/// <summary>
/// Inference's fused q/k/v and gate/up products (<see cref="DecoderLayer.FuseProjections"/>) against the separate
/// projections they replace. The fused product dots every row of every weight with the same loop, in the same order,
/// as the separate GEMV/GEMM would, so the logits are not merely close but identical; greedy tokens follow.
/// </summary>
public class FusedProjectionTests
{
    private static readonly int[] Prompt = [256, 72, 101, 108, 108, 111, 44, 32];

    /// <summary>Logits of a 5-token prefill then every further prompt token one at a time (KV cache), concatenated.</summary>
    private static float[] DecodeLogits(LlamaModel model, int[] tokens)
    {
        var be = model.Backend;
        using var cache = new KvCache(be, model.Config, tokens.Length);
        var logits = new List<float>();
        foreach (var chunk in new[] { tokens[..5] }.Concat(tokens[5..].Select(t => new[] { t })))
        {
            using var tape = new Tape(be);
            using var _ = tape.NoGrad();
            using var ids = Tensor.FromArray(be, chunk, 1, chunk.Length);
            logits.AddRange(model.Forward(tape, ids, cache).Value.ToFloatArray());
        }
        return logits.ToArray();
    }

    private static List<int> Greedy(LlamaModel model, int tokens) =>
        Generator.Generate(model, Prompt, tokens, SamplingOptions.Greedy, new HashSet<int>()).Select(g => g.Id).ToList();

    [Theory]
    [InlineData("F32", 1)]
    [InlineData("BF16", 2)]   // two threads: the fused loop's tasks start and end inside weights
    [InlineData("F16", 3)]
    public void Fused_decoding_gives_the_logits_and_greedy_tokens_of_separate_projections(string dtype, int threads)
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 2, Hidden = 64, Intermediate = 96, DType = Enum.Parse<DType>(dtype) });
        using var cpu = new CpuBackend(threads);
        using var model = LlamaModel.Load(dir.Path, cpu);
        Assert.True(model.FuseProjections);   // the default
        var fused = DecodeLogits(model, [.. Prompt, 33, 10]);
        var fusedTokens = Greedy(model, 12);
        model.FuseProjections = false;
        var separate = DecodeLogits(model, [.. Prompt, 33, 10]);
        var separateTokens = Greedy(model, 12);
        Assert.Equal(separate, fused);
        Assert.Equal(separateTokens, fusedTokens);
    }

    [Fact]
    public void Fused_decoding_on_ilgpu_gives_the_logits_of_separate_projections()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 2, DType = DType.BF16 });
        using var ilgpu = IlgpuBackend.CreateCpu();
        using var model = LlamaModel.Load(dir.Path, ilgpu);
        var fused = DecodeLogits(model, Prompt);
        model.FuseProjections = false;
        var separate = DecodeLogits(model, Prompt);
        // Same per-row loop and group reduction as the separate GEMV kernel: identical here too.
        Assert.Equal(separate, fused);
    }

    /// <summary>A projection that is not a plain frozen weight (here: y = x·Wᵀ + 1) must keep its own Forward.</summary>
    private sealed class PlusOne(FrozenLinear inner) : LinearLayer(inner.Name)
    {
        public override int InFeatures => inner.InFeatures;
        public override int OutFeatures => inner.OutFeatures;
        public override Tensor? DenseWeight => null;
        public override Var Forward(Tape tape, Var x)
        {
            var y = inner.Forward(tape, x);
            using var c = Var.Constant(Tensor.Full(tape.Backend, 1f, y.Value.ShapeArray()));
            return tape.Add(y, c);
        }
        public override void Dispose() => inner.Dispose();
    }

    [Fact]
    public void A_group_with_a_projection_that_adds_to_its_weight_is_not_fused()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { KvHeads = 2, DType = DType.BF16 });
        using var cpu = new CpuBackend(2);
        using var model = LlamaModel.Load(dir.Path, cpu);
        var plain = DecodeLogits(model, Prompt);
        model.Layers[0].K = new PlusOne((FrozenLinear)model.Layers[0].K);
        model.Layers[1].Up = new PlusOne((FrozenLinear)model.Layers[1].Up);
        var wrapped = DecodeLogits(model, Prompt);
        model.FuseProjections = false;
        var separate = DecodeLogits(model, Prompt);
        Assert.Equal(separate, wrapped);      // the wrapped groups ran their layers' own Forward
        Assert.NotEqual(plain, wrapped);      // and the +1 was not lost to the fused path
    }
}
