using LoRAM.Autograd;
using LoRAM.Tensors;

namespace LoRAM.Llama.Model;

/// <summary>
/// One LLaMA decoder layer, Hugging Face's <c>LlamaDecoderLayer</c>:
///   h = x + o_proj(Attn(RoPE(q_proj(n1(x))), RoPE(k_proj(n1(x))), v_proj(n1(x))))
///   y = h + down_proj(silu(gate_proj(n2(h))) ⊙ up_proj(n2(h)))
/// with n1, n2 RMSNorm and causal grouped-query attention (query head j reads key/value head j / (Hq/Hkv)).
/// A structurally pruned layer is the same layer with fewer heads and MLP channels.
/// </summary>
public sealed class DecoderLayer : IDisposable
{
    internal DecoderLayer(int index, int heads, int kvHeads, int headDim, float eps,
        Var inputNorm, LinearLayer q, LinearLayer k, LinearLayer v, LinearLayer o,
        Var postAttentionNorm, LinearLayer gate, LinearLayer up, LinearLayer down)
    {
        Index = index;
        Heads = heads;
        KvHeads = kvHeads;
        HeadDim = headDim;
        Eps = eps;
        InputNorm = inputNorm;
        Q = q; K = k; V = v; O = o;
        PostAttentionNorm = postAttentionNorm;
        Gate = gate; Up = up; Down = down;
    }

    public int Index { get; }
    public int Heads { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public float Eps { get; }

    public Var InputNorm { get; }
    public Var PostAttentionNorm { get; }
    // The projections are settable slots: LoRA, NF4 and full training replace them in place.
    private readonly LinearLayer[] _projections = new LinearLayer[Projection.All.Count];
    public LinearLayer Q { get => this[Projection.Q]; set => this[Projection.Q] = value; }
    public LinearLayer K { get => this[Projection.K]; set => this[Projection.K] = value; }
    public LinearLayer V { get => this[Projection.V]; set => this[Projection.V] = value; }
    public LinearLayer O { get => this[Projection.O]; set => this[Projection.O] = value; }
    public LinearLayer Gate { get => this[Projection.Gate]; set => this[Projection.Gate] = value; }
    public LinearLayer Up { get => this[Projection.Up]; set => this[Projection.Up] = value; }
    public LinearLayer Down { get => this[Projection.Down]; set => this[Projection.Down] = value; }

    /// <summary>The seven projections, in checkpoint order.</summary>
    public IEnumerable<(Projection Module, LinearLayer Layer)> Projections => Projection.All.Select(p => (p, this[p]));

    /// <summary>The layer serving projection <paramref name="p"/>; setting it swaps the implementation (LoRA, NF4, pruned).</summary>
    public LinearLayer this[Projection p]
    {
        get => _projections[p.Index];
        set => _projections[p.Index] = value;
    }

    /// <summary>x [B, T, d] → [B, T, d]. <paramref name="rope"/> gives the rotation tables and every token's position;
    /// with a <paramref name="cache"/> (batch 1, no gradient) the layer appends its keys and values and attends over the prefix.</summary>
    public Var Forward(Tape tape, Var x, RopeContext rope, KvCache? cache = null)
    {
        int b = x.Value.Dim(0), t = x.Value.Dim(1);

        // Attention block.
        var n1 = tape.RmsNorm(x, InputNorm, Eps);
        var qkv = Project(tape, n1, Q, K, V);
        var q = tape.Rope(tape.Reshape(qkv[0], b, t, Heads, HeadDim), rope.Cos, rope.Sin, rope.Positions);
        var k = tape.Rope(tape.Reshape(qkv[1], b, t, KvHeads, HeadDim), rope.Cos, rope.Sin, rope.Positions);
        var v = tape.Reshape(qkv[2], b, t, KvHeads, HeadDim);
        Var attention;
        if (cache is null) attention = tape.Attention(q, k, v);
        else
        {
            if (tape.GradEnabled) throw new InvalidOperationException("KV-cache decoding is for inference: run it inside tape.NoGrad()");
            var (keys, values) = cache.Append(Index, k.Value, v.Value);
            using var allKeys = Var.Constant(keys);
            using var allValues = Var.Constant(values);
            attention = tape.Attention(q, allKeys, allValues);
        }
        var h = tape.Add(x, O.Forward(tape, tape.Reshape(attention, b, t, Heads * HeadDim)));

        // MLP block (SwiGLU).
        var n2 = tape.RmsNorm(h, PostAttentionNorm, Eps);
        var gateUp = Project(tape, n2, Gate, Up);
        var mlp = tape.SwiGlu(gateUp[0], gateUp[1]);
        return tape.Add(h, Down.Forward(tape, mlp));
    }

    /// <summary>
    /// Inference runs q/k/v, and gate/up, as one fused product each (<see cref="Ops.Linear(Tape, Var, IReadOnlyList{DenseFrozenWeight})"/>):
    /// the same sums, one parallel dispatch per group instead of one per projection. Default on; off gives the
    /// separate projections (the reference the fused path is tested against).
    /// </summary>
    public bool FuseProjections { get; set; } = true;

    /// <summary>
    /// Each layer's output for the shared input x. Fused when the tape records no gradient and every layer is a plain
    /// dense frozen projection of one dtype (a base or merged model); a LoRA, NF4, trainable or observing layer (pruning's
    /// probes) runs its own Forward, so it keeps its semantics — training never takes the fused path.
    /// </summary>
    private Var[] Project(Tape tape, Var x, params LinearLayer[] layers)
    {
        if (FuseProjections && !tape.GradEnabled && Fusable(layers) is { } weights) return tape.Linear(x, weights);
        var ys = new Var[layers.Length];
        for (int i = 0; i < layers.Length; i++) ys[i] = layers[i].Forward(tape, x);
        return ys;
    }

    private static DenseFrozenWeight[]? Fusable(LinearLayer[] layers)
    {
        var weights = new DenseFrozenWeight[layers.Length];
        for (int i = 0; i < layers.Length; i++)
        {
            if (layers[i] is not FrozenLinear { Weight: DenseFrozenWeight dense }) return null;
            if (i > 0 && dense.Weight.DType != weights[0].Weight.DType) return null;
            weights[i] = dense;
        }
        return weights;
    }

    public void Dispose()
    {
        InputNorm.Dispose();
        PostAttentionNorm.Dispose();
        foreach (var (_, layer) in Projections) layer.Dispose();
    }
}

/// <summary>RoPE tables [maxPositions, D/2] and the I32 position of every token [B·T] for one forward pass.</summary>
public readonly record struct RopeContext(Tensor Cos, Tensor Sin, Tensor Positions);
