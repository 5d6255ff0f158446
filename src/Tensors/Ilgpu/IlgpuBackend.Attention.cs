using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Causal grouped-query attention, split over keys as in flash-decoding: one group per query row (forward, dq) or
// per key row (dk, dv), its lanes taking every lanes-th key (or query). Each lane keeps an online softmax (running
// max and sum, Milakov & Gimelshein 2018) and its own partial output in thread-local memory; the lanes' partials
// are then rescaled to the common max and summed through shared memory. The T×S score matrix is never stored, and
// the backward recomputes the probabilities from lse (FlashAttention-2), so every output element has one writer:
// deterministic, no atomics.
public sealed partial class IlgpuBackend
{
    /// <summary>Largest head size the attention kernels hold in thread-local memory.</summary>
    internal const int MaxHeadDim = 256;

    /// <summary>Largest group of the attention kernels (their shared partials are MaxAttentionLanes × MaxHeadDim).</summary>
    internal const int MaxAttentionLanes = 32;

    /// <summary>Lanes per attention group: a warp on a GPU, a CPU-accelerator warp otherwise; a power of two.</summary>
    private int AttentionLanes => IsCpu ? 4 : MaxAttentionLanes;

    internal struct AttentionShape
    {
        public int B, T, S, Hq, Hkv, D;
        public float Scale;
    }

    /// <summary>out[c] = Σ_lanes partial[lane][c] · factor for c &lt; D, written by the lanes in turn; the lane's own
    /// <paramref name="acc"/> is its partial. Every lane of the group must call it.</summary>
    private static void SumPartials(ArrayView<float> acc, ArrayView<float> shared, int d, float factor, ArrayView<float> output, long at)
    {
        int lane = Group.IdxX, lanes = Group.DimX;
        for (int c = 0; c < d; c++) shared[lane * d + c] = acc[c];
        Group.Barrier();
        for (int c = lane; c < d; c += lanes)
        {
            float sum = 0f;
            for (int l = 0; l < lanes; l++) sum += shared[l * d + c];
            output[at + c] = sum * factor;
        }
        Group.Barrier();
    }

    // Query t (row (b, t, h) of the grid) sits at absolute position S − T + t and sees keys 0 .. S − T + t.
    internal static void AttentionKernel(AttentionShape s, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse)
    {
        var shared = SharedMemory.Allocate<float>(MaxAttentionLanes * MaxHeadDim);
        var scratch = SharedMemory.Allocate<float>(MaxAttentionLanes);
        var qi = LocalMemory.Allocate<float>(MaxHeadDim);
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        int row = Grid.IdxX, lane = Group.IdxX;
        int h = row % s.Hq, bt = row / s.Hq, i = bt % s.T, b = bt / s.T, kvh = h / (s.Hq / s.Hkv);
        long qo = (long)row * s.D;
        for (int c = 0; c < s.D; c++) { qi[c] = q[qo + c]; acc[c] = 0f; }
        int visible = s.S - s.T + i + 1;
        float max = float.NegativeInfinity, sum = 0f;
        for (int j = lane; j < visible; j += Group.DimX)
        {
            long ko = (((long)b * s.S + j) * s.Hkv + kvh) * s.D;
            float dot = 0f;
            for (int c = 0; c < s.D; c++) dot += qi[c] * k[ko + c];
            float z = s.Scale * dot;
            if (z > max)
            {
                float correction = XMath.Exp(max - z);   // 0 on the lane's first key
                sum *= correction;
                for (int c = 0; c < s.D; c++) acc[c] *= correction;
                max = z;
            }
            float p = XMath.Exp(z - max);
            sum += p;
            for (int c = 0; c < s.D; c++) acc[c] += p * v[ko + c];
        }
        // Rescale every lane to the group's max (a lane that saw no key has weight 0), then add the lanes up.
        float groupMax = KernelMath.GroupMax(max, scratch);
        float w = max == float.NegativeInfinity ? 0f : XMath.Exp(max - groupMax);
        float total = KernelMath.GroupSum(sum * w, scratch);
        for (int c = 0; c < s.D; c++) acc[c] *= w;
        SumPartials(acc, shared, s.D, 1f / total, o, qo);
        if (lane == 0) lse[((long)b * s.Hq + h) * s.T + i] = groupMax + XMath.Log(total);
    }

    // dq = scale · Σ_j P_j (dP_j − Δ) k_j, with P_j = exp(scale·q·k_j − lse), dP_j = dO·v_j, Δ = dO·o (= Σ_j P_j dP_j).
    // Δ is stored for the key pass.
    internal static void AttentionBackwardQueryKernel(AttentionShape s, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> delta)
    {
        var shared = SharedMemory.Allocate<float>(MaxAttentionLanes * MaxHeadDim);
        var qi = LocalMemory.Allocate<float>(MaxHeadDim);
        var gi = LocalMemory.Allocate<float>(MaxHeadDim);
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        int row = Grid.IdxX, lane = Group.IdxX;
        int h = row % s.Hq, bt = row / s.Hq, i = bt % s.T, b = bt / s.T, kvh = h / (s.Hq / s.Hkv);
        long qo = (long)row * s.D, lrow = ((long)b * s.Hq + h) * s.T + i;
        float dlt = 0f;
        for (int c = 0; c < s.D; c++)
        {
            qi[c] = q[qo + c];
            gi[c] = dO[qo + c];
            acc[c] = 0f;
            dlt += gi[c] * o[qo + c];
        }
        float l = lse[lrow];
        int visible = s.S - s.T + i + 1;
        for (int j = lane; j < visible; j += Group.DimX)
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
        SumPartials(acc, shared, s.D, 1f, dq, qo);
        if (lane == 0) delta[lrow] = dlt;
    }

    // dk_j = scale · Σ_(h, i) P (dP − Δ) q_i and dv_j = Σ_(h, i) P dO_i over the query heads h of key head kvh and the
    // queries i that see key j (S − T + i ≥ j); the group of key row (b, j, kvh) splits those (h, i) over its lanes.
    internal static void AttentionBackwardKeyKernel(AttentionShape s, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> delta, ArrayView<float> dk, ArrayView<float> dv)
    {
        var shared = SharedMemory.Allocate<float>(MaxAttentionLanes * MaxHeadDim);
        var kj = LocalMemory.Allocate<float>(MaxHeadDim);
        var vj = LocalMemory.Allocate<float>(MaxHeadDim);
        var dkj = LocalMemory.Allocate<float>(MaxHeadDim);
        var dvj = LocalMemory.Allocate<float>(MaxHeadDim);
        int keyRow = Grid.IdxX, lane = Group.IdxX;
        int kvh = keyRow % s.Hkv, bj = keyRow / s.Hkv, j = bj % s.S, b = bj / s.S, group = s.Hq / s.Hkv;
        long ko = (long)keyRow * s.D;
        for (int c = 0; c < s.D; c++) { kj[c] = k[ko + c]; vj[c] = v[ko + c]; dkj[c] = 0f; dvj[c] = 0f; }
        int first = j - (s.S - s.T);
        if (first < 0) first = 0;
        int seeing = s.T - first, items = group * seeing;
        for (int w = lane; w < items; w += Group.DimX)
        {
            int h = kvh * group + w / seeing, i = first + w % seeing;
            long qo = (((long)b * s.T + i) * s.Hq + h) * s.D, lrow = ((long)b * s.Hq + h) * s.T + i;
            float dot = 0f, dp = 0f;
            for (int c = 0; c < s.D; c++)
            {
                dot += q[qo + c] * kj[c];
                dp += dO[qo + c] * vj[c];
            }
            float p = XMath.Exp(s.Scale * dot - lse[lrow]);
            float dz = p * (dp - delta[lrow]) * s.Scale;
            for (int c = 0; c < s.D; c++)
            {
                dkj[c] += dz * q[qo + c];
                dvj[c] += p * dO[qo + c];
            }
        }
        SumPartials(dkj, shared, s.D, 1f, dk, ko);
        SumPartials(dvj, shared, s.D, 1f, dv, ko);
    }

    private Action<KernelConfig, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _attention;
    private Action<KernelConfig, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _attentionBackwardQuery;
    private Action<KernelConfig, AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _attentionBackwardKey;

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
        _attention ??= Accelerator.LoadStreamKernel<AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionKernel);
        _attention(AttentionConfig(rows), s, View<float>(q), View<float>(k), View<float>(v), View<float>(o), View<float>(lse ?? scratch!));
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
        _attentionBackwardQuery ??= Accelerator.LoadStreamKernel<AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionBackwardQueryKernel);
        _attentionBackwardKey ??= Accelerator.LoadStreamKernel<AttentionShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionBackwardKeyKernel);
        if (rows > 0)
            _attentionBackwardQuery(AttentionConfig(rows), s, View<float>(q), View<float>(k), View<float>(v), View<float>(o), View<float>(lse), View<float>(dO), View<float>(dq), View<float>(delta));
        _attentionBackwardKey(AttentionConfig(keys), s, View<float>(q), View<float>(k), View<float>(v), View<float>(lse), View<float>(dO), View<float>(delta), View<float>(dk), View<float>(dv));
    }

    /// <summary>One group of <see cref="AttentionLanes"/> per query (or key) row.</summary>
    private KernelConfig AttentionConfig(long rows) => new(new Index1D(checked((int)rows)), new Index1D(AttentionLanes));
}
