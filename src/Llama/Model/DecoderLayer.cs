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
        var q = tape.Rope(tape.Reshape(Q.Forward(tape, n1), b, t, Heads, HeadDim), rope.Cos, rope.Sin, rope.Positions);
        var k = tape.Rope(tape.Reshape(K.Forward(tape, n1), b, t, KvHeads, HeadDim), rope.Cos, rope.Sin, rope.Positions);
        var v = tape.Reshape(V.Forward(tape, n1), b, t, KvHeads, HeadDim);
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
        var mlp = tape.SwiGlu(Gate.Forward(tape, n2), Up.Forward(tape, n2));
        return tape.Add(h, Down.Forward(tape, mlp));
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
