using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace LoRAM.Llama.Tests.Support;

/// <summary>
/// An independent float64 LLaMA forward pass, straight from config.json and the safetensors bytes (its own
/// parser, its own RoPE frequencies), written for clarity, not speed. It shares no code with the engine, so the
/// engine's model can be checked against it:
/// x = E[t]; per layer: x += Wo·Attn(RoPE(Wq·n1(x)), RoPE(Wk·n1(x)), Wv·n1(x)); x += Wd·(silu(Wg·n2(x)) ⊙ Wu·n2(x));
/// logits = W_lm·n(x), with n(x) = x/√(mean(x²)+ε) ⊙ w, causal GQA attention and rotate-half RoPE.
/// </summary>
public sealed class LlamaReference64
{
    private readonly Dictionary<string, (int[] Shape, double[] Data)> _w = new();
    private readonly int _hidden, _layers, _headDim;
    private readonly double _eps;
    private readonly bool _tied;
    private readonly double[] _invFreq;

    public LlamaReference64(string folder)
    {
        using var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var c = cfg.RootElement;
        _hidden = c.GetProperty("hidden_size").GetInt32();
        _layers = c.GetProperty("num_hidden_layers").GetInt32();
        int heads = c.GetProperty("num_attention_heads").GetInt32();
        _headDim = c.TryGetProperty("head_dim", out var hd) ? hd.GetInt32() : _hidden / heads;
        _eps = c.GetProperty("rms_norm_eps").GetDouble();
        _tied = c.TryGetProperty("tie_word_embeddings", out var tie) && tie.GetBoolean();
        double theta = c.TryGetProperty("rope_theta", out var th) ? th.GetDouble() : 10000;
        _invFreq = new double[_headDim / 2];
        for (int i = 0; i < _invFreq.Length; i++) _invFreq[i] = Math.Exp(-Math.Log(theta) * (2.0 * i) / _headDim);
        if (c.TryGetProperty("rope_scaling", out var rs) && rs.ValueKind == JsonValueKind.Object)
        {
            double factor = rs.GetProperty("factor").GetDouble(), lo = rs.GetProperty("low_freq_factor").GetDouble();
            double hi = rs.GetProperty("high_freq_factor").GetDouble(), ctx = rs.GetProperty("original_max_position_embeddings").GetDouble();
            for (int i = 0; i < _invFreq.Length; i++)
            {
                double f = _invFreq[i], ratio = ctx * f / (2 * Math.PI);   // = L / wavelength
                if (ratio < lo) _invFreq[i] = f / factor;                   // wavelength > L/lo
                else if (ratio <= hi)                                       // between the two thresholds
                {
                    double s = (ratio - lo) / (hi - lo);
                    _invFreq[i] = f * ((1 - s) / factor + s);
                }
            }
        }
        foreach (var file in Directory.GetFiles(folder, "*.safetensors")) ReadSafetensors(file);
    }

    private void ReadSafetensors(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, n));
        foreach (var p in header.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            long begin = p.Value.GetProperty("data_offsets")[0].GetInt64() + 8 + n;
            int count = shape.Aggregate(1, (a, b) => a * b);
            var data = new double[count];
            var span = bytes.AsSpan((int)begin);
            string dtype = p.Value.GetProperty("dtype").GetString()!;
            for (int i = 0; i < count; i++)
                data[i] = dtype switch
                {
                    "F32" => BinaryPrimitives.ReadSingleLittleEndian(span[(4 * i)..]),
                    "BF16" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(span[(2 * i)..]) << 16),
                    "F16" => (double)BinaryPrimitives.ReadHalfLittleEndian(span[(2 * i)..]),
                    _ => throw new NotSupportedException(dtype),
                };
            _w[p.Name] = (shape, data);
        }
    }

    /// <summary>Logits [T, V] (row-major) for <paramref name="tokens"/> at positions 0..T-1.</summary>
    public double[,] Logits(IReadOnlyList<int> tokens)
    {
        int t = tokens.Count, h = _hidden;
        var (eShape, e) = _w["model.embed_tokens.weight"];
        var x = new double[t, h];
        for (int i = 0; i < t; i++) for (int j = 0; j < h; j++) x[i, j] = e[tokens[i] * h + j];

        for (int l = 0; l < _layers; l++)
        {
            string p = $"model.layers.{l}.";
            var n1 = RmsNorm(x, _w[p + "input_layernorm.weight"].Data);
            var q = Linear(n1, p + "self_attn.q_proj.weight");
            var k = Linear(n1, p + "self_attn.k_proj.weight");
            var v = Linear(n1, p + "self_attn.v_proj.weight");
            int nq = q.GetLength(1) / _headDim, nkv = k.GetLength(1) / _headDim;
            Rope(q, nq);
            Rope(k, nkv);
            var attn = new double[t, nq * _headDim];
            double scale = 1 / Math.Sqrt(_headDim);
            for (int head = 0; head < nq; head++)
            {
                int kvh = head / (nq / nkv);
                for (int i = 0; i < t; i++)
                {
                    var s = new double[i + 1];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= i; j++)   // causal: query i sees keys 0..i
                    {
                        double dot = 0;
                        for (int d = 0; d < _headDim; d++) dot += q[i, head * _headDim + d] * k[j, kvh * _headDim + d];
                        s[j] = dot * scale;
                        max = Math.Max(max, s[j]);
                    }
                    double z = 0;
                    for (int j = 0; j <= i; j++) z += s[j] = Math.Exp(s[j] - max);
                    for (int d = 0; d < _headDim; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j <= i; j++) acc += s[j] / z * v[j, kvh * _headDim + d];
                        attn[i, head * _headDim + d] = acc;
                    }
                }
            }
            Add(x, Linear(attn, p + "self_attn.o_proj.weight"));
            var n2 = RmsNorm(x, _w[p + "post_attention_layernorm.weight"].Data);
            var g = Linear(n2, p + "mlp.gate_proj.weight");
            var u = Linear(n2, p + "mlp.up_proj.weight");
            for (int i = 0; i < t; i++)
                for (int j = 0; j < g.GetLength(1); j++)
                    g[i, j] = g[i, j] / (1 + Math.Exp(-g[i, j])) * u[i, j];   // SwiGLU: silu(gate) ⊙ up
            Add(x, Linear(g, p + "mlp.down_proj.weight"));
        }
        var final = RmsNorm(x, _w["model.norm.weight"].Data);
        return Linear(final, _tied ? "model.embed_tokens.weight" : "lm_head.weight");
    }

    private double[,] RmsNorm(double[,] x, double[] w)
    {
        int t = x.GetLength(0), h = x.GetLength(1);
        var y = new double[t, h];
        for (int i = 0; i < t; i++)
        {
            double ms = 0;
            for (int j = 0; j < h; j++) ms += x[i, j] * x[i, j];
            double r = 1 / Math.Sqrt(ms / h + _eps);
            for (int j = 0; j < h; j++) y[i, j] = x[i, j] * r * w[j];
        }
        return y;
    }

    /// <summary>y = x·Wᵀ with W [out, in] as torch.nn.Linear stores it.</summary>
    private double[,] Linear(double[,] x, string name)
    {
        var (shape, w) = _w[name];
        int t = x.GetLength(0), outF = shape[0], inF = shape[1];
        var y = new double[t, outF];
        for (int i = 0; i < t; i++)
            for (int o = 0; o < outF; o++)
            {
                double acc = 0;
                for (int k = 0; k < inF; k++) acc += x[i, k] * w[o * inF + k];
                y[i, o] = acc;
            }
        return y;
    }

    /// <summary>Rotate-half RoPE at position = row index: (a, b) → (a cos − b sin, b cos + a sin) for pairs (i, i + d/2).</summary>
    private void Rope(double[,] x, int heads)
    {
        int half = _headDim / 2;
        for (int pos = 0; pos < x.GetLength(0); pos++)
            for (int head = 0; head < heads; head++)
                for (int i = 0; i < half; i++)
                {
                    double angle = pos * _invFreq[i], c = Math.Cos(angle), s = Math.Sin(angle);
                    int a = head * _headDim + i, b = a + half;
                    double xa = x[pos, a], xb = x[pos, b];
                    x[pos, a] = xa * c - xb * s;
                    x[pos, b] = xb * c + xa * s;
                }
    }

    private static void Add(double[,] x, double[,] y)
    {
        for (int i = 0; i < x.GetLength(0); i++) for (int j = 0; j < x.GetLength(1); j++) x[i, j] += y[i, j];
    }
}
