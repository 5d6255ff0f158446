using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LoRAM.Tensors.Cpu;

// Causal grouped-query attention (Ainslie et al. 2023), one query row at a time: its scores against the keys it
// may see go to a per-thread buffer, softmax is taken there, and o is the probability-weighted sum of values.
// The backward pass never stores the probability matrix: it recomputes P = exp(scale·q·k − lse) (FlashAttention's
// trick, Dao et al. 2022) in two race-free sweeps, one owning query rows (dq), one owning key rows (dk, dv).
public sealed unsafe partial class CpuBackend
{
    public override void Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse)
    {
        var g = AttentionShape.Of(q, k, v, "Attention");
        RequireSameLength(q, o, "Attention");
        if (lse != null && lse.Length != (long)g.B * g.Hq * g.T) throw new ArgumentException($"Attention: lse {lse} should be [B, Hq, T]");
        float* pq = Ptr<float>(q), pk = Ptr<float>(k), pv = Ptr<float>(v), po = Ptr<float>(o);
        float* plse = lse == null ? null : Ptr<float>(lse);
        int d = g.D;
        ForRange(g.B * g.T * g.Hq, 2L * g.S * d, (start, end) =>
        {
            var scores = new float[g.S];
            fixed (float* z = scores)
            for (int row = start; row < end; row++)
            {
                // row enumerates q in memory order: (b, i, h).
                int h = row % g.Hq, i = row / g.Hq % g.T, b = row / g.Hq / g.T, kvh = h / g.Group;
                int visible = g.S - g.T + i + 1;
                float* qi = pq + (long)row * d, oi = po + (long)row * d;
                float max = float.NegativeInfinity;
                for (int j = 0; j < visible; j++)
                {
                    z[j] = scale * Dot(qi, pk + g.KvRow(b, j, kvh) * d, d);
                    max = MathF.Max(max, z[j]);
                }
                float sum = 0;
                for (int j = 0; j < visible; j++) sum += z[j] = MathF.Exp(z[j] - max);
                new Span<float>(oi, d).Clear();
                float inv = 1f / sum;
                for (int j = 0; j < visible; j++) AddScaled(oi, pv + g.KvRow(b, j, kvh) * d, z[j] * inv, d);
                if (plse != null) plse[((long)b * g.Hq + h) * g.T + i] = max + MathF.Log(sum);
            }
        });
    }

    // With P = softmax rows, dP = dO·vᵀ and Δᵢ = Σⱼ Pᵢⱼ dPᵢⱼ = dOᵢ·oᵢ:
    // dZ = P ⊙ (dP − Δ), dq = scale·dZ·k, dk = scale·dZᵀ·q, dv = Pᵀ·dO (summed over the query heads of a group).
    public override void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO, float scale,
        Tensor dq, Tensor dk, Tensor dv)
    {
        var g = AttentionShape.Of(q, k, v, "AttentionBackward");
        RequireSameLength(q, o, "AttentionBackward");
        RequireSameLength(q, dO, "AttentionBackward");
        RequireSameLength(q, dq, "AttentionBackward");
        RequireSameLength(k, dk, "AttentionBackward");
        RequireSameLength(v, dv, "AttentionBackward");
        if (lse.Length != (long)g.B * g.Hq * g.T) throw new ArgumentException($"AttentionBackward: lse {lse} should be [B, Hq, T]");
        float* pq = Ptr<float>(q), pk = Ptr<float>(k), pv = Ptr<float>(v), po = Ptr<float>(o), plse = Ptr<float>(lse);
        float* pdo = Ptr<float>(dO), pdq = Ptr<float>(dq), pdk = Ptr<float>(dk), pdv = Ptr<float>(dv);
        int d = g.D, queries = g.B * g.T * g.Hq;

        var delta = new float[queries];
        fixed (float* pDelta = delta)
        {
            float* pd = pDelta;
            ForRange(queries, d, (s, e) =>
            {
                for (int row = s; row < e; row++) pd[row] = Dot(pdo + (long)row * d, po + (long)row * d, d);
            });

            // dq: each thread owns query rows.
            ForRange(queries, 3L * g.S * d, (s, e) =>
            {
                for (int row = s; row < e; row++)
                {
                    int h = row % g.Hq, i = row / g.Hq % g.T, b = row / g.Hq / g.T, kvh = h / g.Group;
                    float* qi = pq + (long)row * d, doi = pdo + (long)row * d, dqi = pdq + (long)row * d;
                    float l = plse[((long)b * g.Hq + h) * g.T + i], di = pd[row];
                    new Span<float>(dqi, d).Clear();
                    for (int j = 0, visible = g.S - g.T + i + 1; j < visible; j++)
                    {
                        long kj = g.KvRow(b, j, kvh) * d;
                        float p = MathF.Exp(scale * Dot(qi, pk + kj, d) - l);
                        AddScaled(dqi, pk + kj, scale * p * (Dot(doi, pv + kj, d) - di), d);
                    }
                }
            });

            // dk, dv: each thread owns key rows (b, j, kvh) and visits every query of the group that sees key j.
            ForRange(g.B * g.S * g.Hkv, 3L * g.T * g.Group * d, (s, e) =>
            {
                for (int krow = s; krow < e; krow++)
                {
                    int kvh = krow % g.Hkv, j = krow / g.Hkv % g.S, b = krow / g.Hkv / g.S;
                    float* kj = pk + (long)krow * d, vj = pv + (long)krow * d, dkj = pdk + (long)krow * d, dvj = pdv + (long)krow * d;
                    new Span<float>(dkj, d).Clear();
                    new Span<float>(dvj, d).Clear();
                    for (int h = kvh * g.Group; h < (kvh + 1) * g.Group; h++)
                    for (int i = Math.Max(0, j - (g.S - g.T)); i < g.T; i++)
                    {
                        long row = ((long)b * g.T + i) * g.Hq + h;
                        float* qi = pq + row * d, doi = pdo + row * d;
                        float p = MathF.Exp(scale * Dot(qi, kj, d) - plse[((long)b * g.Hq + h) * g.T + i]);
                        AddScaled(dkj, qi, scale * p * (Dot(doi, vj, d) - pd[row]), d);
                        AddScaled(dvj, doi, p, d);
                    }
                }
            });
        }
    }

    /// <summary>Dimensions of one attention call, checked against the contract.</summary>
    private readonly record struct AttentionShape(int B, int T, int S, int Hq, int Hkv, int D)
    {
        public int Group => Hq / Hkv;

        /// <summary>Row index of key/value (b, s, h) in [B, S, Hkv, D], in units of D.</summary>
        public long KvRow(int b, int s, int h) => ((long)b * S + s) * Hkv + h;

        public static AttentionShape Of(Tensor q, Tensor k, Tensor v, string kernel)
        {
            if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4) throw new ArgumentException($"{kernel}: q, k, v must be rank 4 ({q}, {k}, {v})");
            var g = new AttentionShape(q.Dim(0), q.Dim(1), k.Dim(1), q.Dim(2), k.Dim(2), q.Dim(3));
            if (k.Dim(0) != g.B || k.Dim(3) != g.D || !k.Shape.SequenceEqual(v.Shape) || g.S < g.T || g.Hkv == 0 || g.Hq % g.Hkv != 0)
                throw new ArgumentException($"{kernel}: q {q} does not fit k {k}, v {v} (need S ≥ T, Hq a multiple of Hkv)");
            return g;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int n)
    {
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8) acc += Vector256.Load(a + i) * Vector256.Load(b + i);
        float s = Vector256.Sum(acc);
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>y += alpha·x over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled(float* y, float* x, float alpha, int n)
    {
        var va = Vector256.Create(alpha);
        int i = 0;
        for (; i + 8 <= n; i += 8) (Vector256.Load(y + i) + va * Vector256.Load(x + i)).Store(y + i);
        for (; i < n; i++) y[i] += alpha * x[i];
    }
}
