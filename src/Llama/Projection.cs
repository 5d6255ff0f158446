namespace LoRAM.Llama;

/// <summary>What a projection's rows or columns index: the residual stream (never pruned), the query heads' or the
/// key/value heads' dimensions (structured pruning removes whole heads, or GQA groups), or the MLP channels.</summary>
public enum ProjectionAxis { Hidden, QueryHeads, KvHeads, Channels }

/// <summary>
/// One of the seven linear projections of a LLaMA decoder layer, W [out, in] as torch.nn.Linear stores it. It knows its
/// Hugging Face / PEFT module name (<c>q_proj</c> …), its block (<c>self_attn</c> or <c>mlp</c>), and what its rows and
/// columns index — and so which of them a structured pruning removes:
///   q: [heads·D, d]   k, v: [kv·D, d]   o: [d, heads·D]   gate, up: [ff, d]   down: [d, ff].
/// </summary>
public sealed class Projection
{
    public static readonly Projection Q = new(0, "q_proj", attention: true, ProjectionAxis.QueryHeads, ProjectionAxis.Hidden);
    public static readonly Projection K = new(1, "k_proj", attention: true, ProjectionAxis.KvHeads, ProjectionAxis.Hidden);
    public static readonly Projection V = new(2, "v_proj", attention: true, ProjectionAxis.KvHeads, ProjectionAxis.Hidden);
    public static readonly Projection O = new(3, "o_proj", attention: true, ProjectionAxis.Hidden, ProjectionAxis.QueryHeads);
    public static readonly Projection Gate = new(4, "gate_proj", attention: false, ProjectionAxis.Channels, ProjectionAxis.Hidden);
    public static readonly Projection Up = new(5, "up_proj", attention: false, ProjectionAxis.Channels, ProjectionAxis.Hidden);
    public static readonly Projection Down = new(6, "down_proj", attention: false, ProjectionAxis.Hidden, ProjectionAxis.Channels);

    /// <summary>The seven, in checkpoint order.</summary>
    public static IReadOnlyList<Projection> All { get; } = [Q, K, V, O, Gate, Up, Down];

    /// <summary>Position in <see cref="All"/>.</summary>
    public int Index { get; }
    /// <summary>The PEFT / Hugging Face module name, e.g. <c>q_proj</c>.</summary>
    public string Module { get; }
    public bool IsAttention { get; }
    /// <summary>The Hugging Face block the module sits in: <c>self_attn</c> or <c>mlp</c>.</summary>
    public string Block => IsAttention ? "self_attn" : "mlp";
    /// <summary>What the output features (rows of W) index.</summary>
    public ProjectionAxis Rows { get; }
    /// <summary>What the input features (columns of W) index.</summary>
    public ProjectionAxis Columns { get; }

    private Projection(int index, string module, bool attention, ProjectionAxis rows, ProjectionAxis columns) =>
        (Index, Module, IsAttention, Rows, Columns) = (index, module, attention, rows, columns);

    /// <summary>The module path in layer <paramref name="layer"/>, e.g. <c>model.layers.3.self_attn.q_proj</c>.</summary>
    public string Path(int layer) => $"model.layers.{layer}.{Block}.{Module}";

    /// <summary>The checkpoint tensor name of the weight, e.g. <c>model.layers.3.self_attn.q_proj.weight</c>.</summary>
    public string WeightName(int layer) => Path(layer) + ".weight";

    /// <summary>The projection named <paramref name="module"/> (q_proj … down_proj), or null.</summary>
    public static Projection? Find(string module) => All.FirstOrDefault(p => p.Module == module);

    /// <summary>The projection named <paramref name="module"/>; <see cref="ArgumentException"/> for any other name.</summary>
    public static Projection Parse(string module) =>
        Find(module) ?? throw new ArgumentException($"a LLaMA layer has no projection '{module}' (expected {string.Join(", ", All.Select(p => p.Module))})");

    /// <summary>Rows and columns of the weight in layer <paramref name="layer"/> of <paramref name="config"/>: [out, in].</summary>
    public (int Out, int In) Shape(LlamaConfig config, int layer) => (Size(config, layer, Rows), Size(config, layer, Columns));

    /// <summary>How many features <paramref name="axis"/> has in layer <paramref name="layer"/>.</summary>
    public static int Size(LlamaConfig config, int layer, ProjectionAxis axis) => axis switch
    {
        ProjectionAxis.Hidden => config.HiddenSize,
        ProjectionAxis.QueryHeads => config.HeadsAt(layer) * config.HeadDim,
        ProjectionAxis.KvHeads => config.KvHeadsAt(layer) * config.HeadDim,
        ProjectionAxis.Channels => config.IntermediateAt(layer),
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };

    public override string ToString() => Module;
}
