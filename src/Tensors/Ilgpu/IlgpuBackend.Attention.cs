using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Causal grouped-query attention. Forward: one thread per query (b, t, h) with an online softmax over its visible
// keys (Milakov & Gimelshein's running max and sum), so the T×S score matrix is never stored. Backward: one thread
// per query for dq, one thread per key (b, s, kv head) for dk and dv, each recomputing the probabilities from lse
// (FlashAttention-2's backward), so every output element has one writer: deterministic, no atomics.
public sealed partial class IlgpuBackend
{
    /// <summary>Largest head size the attention kernels hold in thread-local memory.</summary>
    internal const int MaxHeadDim = 256;

    internal struct AttentionShape
    {
        public int B, T, S, Hq, Hkv, D;
        public float Scale;
    }

    // Query t sits at absolute position S − T + t and sees keys 0 .. S − T + t.
    internal static void AttentionKernel(Index1D t, AttentionShape s, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse)
    {
        var qi = LocalMemory.Allocate<float>(MaxHeadDim);
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        int h = t % s.Hq, bt = t / s.Hq, i = bt % s.T, b = bt / s.T, kvh = h / (s.Hq / s.Hkv);
        long qo = (long)t.X * s.D;
        for (int c = 0; c < s.D; c++) { qi[c] = q[qo + c]; acc[c] = 0f; }
        int visible = s.S - s.T + i + 1;
        float max = float.NegativeInfinity, sum = 0f;
        for (int j = 0; j < visible; j++)
        {
            long ko = (((long)b * s.S + j) * s.Hkv + kvh) * s.D;
            float dot = 0f;
            for (int c = 0; c < s.D; c++) dot += qi[c] * k[ko + c];
            float z = s.Scale * dot;
            if (z > max)
            {
                float correction = XMath.Exp(max - z);   // 0 on the first key
                sum *= correction;
                for (int c = 0; c < s.D; c++) acc[c] *= correction;
                max = z;
            }
            float p = XMath.Exp(z - max);
            sum += p;
            for (int c = 0; c < s.D; c++) acc[c] += p * v[ko + c];
        }
        float inv = 1f / sum;
        for (int c = 0; c < s.D; c++) o[qo + c] = acc[c] * inv;
        lse[((long)b * s.Hq + h) * s.T + i] = max + XMath.Log(sum);
    }

    // dq = scale · Σ_j P_j (dP_j − Δ) k_j, with P_j = exp(scale·q·k_j − lse), dP_j = dO·v_j, Δ = dO·o (= Σ_j P_j dP_j).
    // Δ is stored for the key pass.
    internal static void AttentionBackwardQueryKernel(Index1D t, AttentionShape s, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> delta)
    {
        var qi = LocalMemory.Allocate<float>(MaxHeadDim);
        var gi = LocalMemory.Allocate<float>(MaxHeadDim);
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        int h = t % s.Hq, bt = t / s.Hq, i = bt % s.T, b = bt / s.T, kvh = h / (s.Hq / s.Hkv);
        long qo = (long)t.X * s.D, row = ((long)b * s.Hq + h) * s.T + i;
        float dlt = 0f;
        for (int c = 0; c < s.D; c++)
        {
            qi[c] = q[qo + c];
            gi[c] = dO[qo + c];
            acc[c] = 0f;
            dlt += gi[c] * o[qo + c];
        }
        float l = lse[row];
        int visible = s.S - s.T + i + 1;
        for (int j = 0; j < visible; j++)
        {
            long ko = (((long)b * s.S + j) * s.Hkv + kvh) * s.D;
            float dot = 0f, dp = 0f;
            for (int c = 0; c < s.D; c++)
            {
                dot += qi[c] * k[ko + c];
                dp += gi[c] * v[ko + c];
            }
            float dz = XMath.Exp(s.Scale * dot - l) * (dp - dlt) * s.Scale;
            for (int c = 0; c < s.D; c++) acc[c] += dz * k[ko + c];
        }
        for (int c = 0; c < s.D; c++) dq[qo + c] = acc[c];
        delta[row] = dlt;
    }

    // dk_j = scale · Σ_(h, i) P (dP − Δ) q_i and dv_j = Σ_(h, i) P dO_i over the query heads h of key head kvh and the
    // queries i that see key j (S − T + i ≥ j).
    internal static void AttentionBackwardKeyKernel(Index1D t, AttentionShape s, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> delta, ArrayView<float> dk, ArrayView<float> dv)
    {
        var kj = LocalMemory.Allocate<float>(MaxHeadDim);
        var vj = LocalMemory.Allocate<float>(MaxHeadDim);
        var dkj = LocalMemory.Allocate<float>(MaxHeadDim);
        var dvj = LocalMemory.Allocate<float>(MaxHeadDim);
        int kvh = t % s.Hkv, bj = t / s.Hkv, j = bj % s.S, b = bj / s.S, group = s.Hq / s.Hkv;
        long ko = (long)t.X * s.D;
        for (int c = 0; c < s.D; c++) { kj[c] = k[ko + c]; vj[c] = v[ko + c]; dkj[c] = 0f; dvj[c] = 0f; }
        int first = j - (s.S - s.T);
        if (first < 0) first = 0;
        for (int h = kvh * group; h < (kvh + 1) * group; h++)
        for (int i = first; i < s.T; i++)
        {
            long qo = (((long)b * s.T + i) * s.Hq + h) * s.D, row = ((long)b * s.Hq + h) * s.T + i;
            float dot = 0f, dp = 0f;
            for (int c = 0; c < s.D; c++)
            {
                dot += q[qo + c] * kj[c];
                dp += dO[qo + c] * vj[c];
            }
            float p = XMath.Exp(s.Scale * dot - lse[row]);
            float dz = p * (dp - delta[row]) * s.Scale;
            for (int c = 0; c < s.D; c++)
            {
                dkj[c] += dz * q[qo + c];
                dvj[c] += p * dO[qo + c];
            }
        }
        for (int c = 0; c < s.D; c++) { dk[ko + c] = dkj[c]; dv[ko + c] = dvj[c]; }
    }

    private Action<Index1D, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _attention;
    private Action<Index1D, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _attentionBackwardQuery;
    private Action<Index1D, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _attentionBackwardKey;

    private static AttentionShape AttentionShapeOf(Tensor q, Tensor k, Tensor v, Tensor o, float scale, string name)
    {
        RequireF32(name, q, k, v, o);
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4) throw new ArgumentException($"{name}: q, k, v must be [B, T|S, H, D] ({q}, {k}, {v})");
        var s = new AttentionShape { B = q.Dim(0), T = q.Dim(1), Hq = q.Dim(2), D = q.Dim(3), S = k.Dim(1), Hkv = k.Dim(2), Scale = scale };
        if (k.Dim(0) != s.B || k.Dim(3) != s.D || !k.Shape.SequenceEqual(v.Shape) || !q.Shape.SequenceEqual(o.Shape)
            || s.S < s.T || s.Hkv == 0 || s.Hq % s.Hkv != 0)
            throw new ArgumentException($"{name}: q {q}, k {k}, v {v}, o {o} do not agree");
        if (s.D > MaxHeadDim) throw new ArgumentException($"{name}: head size {s.D} exceeds the supported {MaxHeadDim}");
        return s;
    }

    public override void Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse)
    {
        var s = AttentionShapeOf(q, k, v, o, scale, "Attention");
        long rows = (long)s.B * s.Hq * s.T;
        if (lse != null && (lse.Length != rows || lse.DType != DType.F32)) throw new ArgumentException($"Attention: lse {lse} must be F32 [B, Hq, T]");
        if (rows == 0) return;
        using var scratch = lse == null ? Tensor.Empty(this, (int)rows) : null;
        _attention ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionKernel);
        _attention((int)rows, s, View<float>(q), View<float>(k), View<float>(v), View<float>(o), View<float>(lse ?? scratch!));
    }

    public override void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO, float scale, Tensor dq, Tensor dk, Tensor dv)
    {
        var s = AttentionShapeOf(q, k, v, o, scale, "AttentionBackward");
        RequireF32("AttentionBackward", lse, dO, dq, dk, dv);
        long rows = (long)s.B * s.Hq * s.T;
        if (lse.Length != rows || !dO.Shape.SequenceEqual(q.Shape) || !dq.Shape.SequenceEqual(q.Shape)
            || !dk.Shape.SequenceEqual(k.Shape) || !dv.Shape.SequenceEqual(v.Shape))
            throw new ArgumentException($"AttentionBackward: lse {lse}, dO {dO}, dq {dq}, dk {dk}, dv {dv} do not match q {q}, k {k}");
        long keys = (long)s.B * s.S * s.Hkv;
        if (keys == 0) return;
        using var delta = Tensor.Empty(this, (int)Math.Max(1, rows));
        _attentionBackwardQuery ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionBackwardQueryKernel);
        _attentionBackwardKey ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionBackwardKeyKernel);
        if (rows > 0)
            _attentionBackwardQuery((int)rows, s, View<float>(q), View<float>(k), View<float>(v), View<float>(o), View<float>(lse), View<float>(dO), View<float>(dq), View<float>(delta));
        _attentionBackwardKey((int)keys, s, View<float>(q), View<float>(k), View<float>(v), View<float>(lse), View<float>(dO), View<float>(delta), View<float>(dk), View<float>(dv));
    }
}
