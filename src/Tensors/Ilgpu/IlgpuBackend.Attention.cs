using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Causal grouped-query attention with one warp per query row (forward, dq) or key row (dk, dv): the warp's lanes
// split the head dimension (lane l holds dims l, l + 32, l + 64, l + 96 in registers, so every row load coalesces)
// and walk the keys (or queries) in order, each dot product summed across the warp with xor-shuffles (every lane
// ends with the same bits, so the online softmax's branches agree). The forward keeps a running max and sum
// (Milakov & Gimelshein 2018), so the T×S score matrix is never stored; the backward recomputes the probabilities
// from lse (FlashAttention-2). Every output element has one writer: deterministic, no atomics.
public sealed partial class IlgpuBackend
{
    /// <summary>Largest head size: four dims per lane of a 32-lane warp.</summary>
    internal const int MaxHeadDim = 128;

    /// <summary>Head dims each lane holds.</summary>
    private const int DimsPerLane = 4;

    /// <summary>The kernels' copy of an <see cref="AttentionShape"/> and the scale: plain fields, as ILGPU passes them.</summary>
    internal struct AttentionArgs
    {
        public int B, T, S, Hq, Hkv, D;
        public float Scale;

        public static AttentionArgs Of(AttentionShape g, float scale) =>
            new() { B = g.B, T = g.T, S = g.S, Hq = g.Hq, Hkv = g.Hkv, D = g.D, Scale = scale };
    }

    /// <summary>A lane's share of one head-dim row: dims lane + 32r for r &lt; 4 (zero beyond D).</summary>
    internal struct Dims4
    {
        public float X0, X1, X2, X3;

        public static Dims4 Load(ArrayView<float> x, long row, int d)
        {
            int lane = Group.IdxX, lanes = Group.DimX;
            return new Dims4
            {
                X0 = lane < d ? x[row + lane] : 0f,
                X1 = lane + lanes < d ? x[row + lane + lanes] : 0f,
                X2 = lane + 2 * lanes < d ? x[row + lane + 2 * lanes] : 0f,
                X3 = lane + 3 * lanes < d ? x[row + lane + 3 * lanes] : 0f,
            };
        }

        public void Store(ArrayView<float> y, long row, int d, float factor)
        {
            int lane = Group.IdxX, lanes = Group.DimX;
            if (lane < d) y[row + lane] = X0 * factor;
            if (lane + lanes < d) y[row + lane + lanes] = X1 * factor;
            if (lane + 2 * lanes < d) y[row + lane + 2 * lanes] = X2 * factor;
            if (lane + 3 * lanes < d) y[row + lane + 3 * lanes] = X3 * factor;
        }

        /// <summary>Σ a·b over the whole row: this lane's share, then summed over the warp.</summary>
        public static float Dot(Dims4 a, Dims4 b) => KernelMath.WarpSum(a.X0 * b.X0 + a.X1 * b.X1 + a.X2 * b.X2 + a.X3 * b.X3);

        public static Dims4 Fma(Dims4 acc, float p, Dims4 v) => new()
        {
            X0 = acc.X0 + p * v.X0, X1 = acc.X1 + p * v.X1, X2 = acc.X2 + p * v.X2, X3 = acc.X3 + p * v.X3,
        };

        public static Dims4 Scale(Dims4 a, float f) => new() { X0 = a.X0 * f, X1 = a.X1 * f, X2 = a.X2 * f, X3 = a.X3 * f };
    }

    /// <summary>Offset of key/value row (b, j, kvh).</summary>
    private static long KeyRow(AttentionArgs s, int b, int j, int kvh) => (((long)b * s.S + j) * s.Hkv + kvh) * s.D;

    /// <summary>Offset of query row (b, i, h).</summary>
    private static long QueryRow(AttentionArgs s, int b, int i, int h) => (((long)b * s.T + i) * s.Hq + h) * s.D;

    // Query t (row (b, t, h) of the grid) sits at absolute position S − T + t and sees keys 0 .. S − T + t.
    internal static void AttentionKernel(AttentionArgs s, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse)
    {
        int row = Grid.IdxX;
        int h = row % s.Hq, bt = row / s.Hq, i = bt % s.T, b = bt / s.T, kvh = h / (s.Hq / s.Hkv);
        long qo = (long)row * s.D;
        var qd = Dims4.Load(q, qo, s.D);
        Dims4 acc = default;
        float max = float.NegativeInfinity, sum = 0f;
        int visible = s.S - s.T + i + 1;
        for (int j = 0; j < visible; j++)
        {
            long ko = KeyRow(s, b, j, kvh);
            float z = s.Scale * Dims4.Dot(qd, Dims4.Load(k, ko, s.D));
            if (z > max)
            {
                float correction = XMath.Exp(max - z);   // 0 on the first key
                sum *= correction;
                acc = Dims4.Scale(acc, correction);
                max = z;
            }
            float p = XMath.Exp(z - max);
            sum += p;
            acc = Dims4.Fma(acc, p, Dims4.Load(v, ko, s.D));
        }
        acc.Store(o, qo, s.D, 1f / sum);
        if (Group.IdxX == 0) lse[((long)b * s.Hq + h) * s.T + i] = max + XMath.Log(sum);
    }

    // dq = scale · Σ_j P_j (dP_j − Δ) k_j, with P_j = exp(scale·q·k_j − lse), dP_j = dO·v_j, Δ = dO·o (= Σ_j P_j dP_j).
    // Δ is stored for the key pass.
    internal static void AttentionBackwardQueryKernel(AttentionArgs s, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> delta)
    {
        int row = Grid.IdxX;
        int h = row % s.Hq, bt = row / s.Hq, i = bt % s.T, b = bt / s.T, kvh = h / (s.Hq / s.Hkv);
        long qo = (long)row * s.D, lrow = ((long)b * s.Hq + h) * s.T + i;
        var qd = Dims4.Load(q, qo, s.D);
        var gd = Dims4.Load(dO, qo, s.D);
        float dlt = Dims4.Dot(gd, Dims4.Load(o, qo, s.D)), l = lse[lrow];
        Dims4 acc = default;
        int visible = s.S - s.T + i + 1;
        for (int j = 0; j < visible; j++)
        {
            long ko = KeyRow(s, b, j, kvh);
            var kd = Dims4.Load(k, ko, s.D);
            float dot = Dims4.Dot(qd, kd), dp = Dims4.Dot(gd, Dims4.Load(v, ko, s.D));
            acc = Dims4.Fma(acc, XMath.Exp(s.Scale * dot - l) * (dp - dlt) * s.Scale, kd);
        }
        acc.Store(dq, qo, s.D, 1f);
        if (Group.IdxX == 0) delta[lrow] = dlt;
    }

    // dk_j = scale · Σ_(h, i) P (dP − Δ) q_i and dv_j = Σ_(h, i) P dO_i over the query heads h of key head kvh and the
    // queries i that see key j (S − T + i ≥ j).
    internal static void AttentionBackwardKeyKernel(AttentionArgs s, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> delta, ArrayView<float> dk, ArrayView<float> dv)
    {
        int keyRow = Grid.IdxX;
        int kvh = keyRow % s.Hkv, bj = keyRow / s.Hkv, j = bj % s.S, b = bj / s.S, group = s.Hq / s.Hkv;
        long ko = (long)keyRow * s.D;
        var kd = Dims4.Load(k, ko, s.D);
        var vd = Dims4.Load(v, ko, s.D);
        Dims4 dkd = default, dvd = default;
        int first = j - (s.S - s.T);
        if (first < 0) first = 0;
        for (int h = kvh * group; h < (kvh + 1) * group; h++)
        for (int i = first; i < s.T; i++)
        {
            long qo = QueryRow(s, b, i, h), lrow = ((long)b * s.Hq + h) * s.T + i;
            var qd = Dims4.Load(q, qo, s.D);
            var gd = Dims4.Load(dO, qo, s.D);
            float dot = Dims4.Dot(qd, kd), dp = Dims4.Dot(gd, vd);
            float p = XMath.Exp(s.Scale * dot - lse[lrow]);
            dkd = Dims4.Fma(dkd, p * (dp - delta[lrow]) * s.Scale, qd);
            dvd = Dims4.Fma(dvd, p, gd);
        }
        dkd.Store(dk, ko, s.D, 1f);
        dvd.Store(dv, ko, s.D, 1f);
    }

    protected override void AttentionCore(AttentionShape g, Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse)
    {
        RequireSupportedHeadSize(g);
        long rows = g.QueryRows;
        if (rows == 0) return;
        using var scratch = lse == null ? Tensor.Empty(this, (int)rows) : null;
        var kernel = Kernels.Get(static acc => acc.LoadStreamKernel<AttentionArgs,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionKernel));
        kernel(AttentionConfig(rows, g.D), AttentionArgs.Of(g, scale), View<float>(q), View<float>(k), View<float>(v), View<float>(o), View<float>(lse ?? scratch!));
    }

    protected override void AttentionBackwardCore(AttentionShape g, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO,
        float scale, Tensor dq, Tensor dk, Tensor dv)
    {
        RequireSupportedHeadSize(g);
        long rows = g.QueryRows, keys = (long)g.B * g.S * g.Hkv;
        if (keys == 0) return;
        var s = AttentionArgs.Of(g, scale);
        using var delta = Tensor.Empty(this, (int)Math.Max(1, rows));
        var queryPass = Kernels.Get(static acc => acc.LoadStreamKernel<AttentionArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionBackwardQueryKernel));
        var keyPass = Kernels.Get(static acc => acc.LoadStreamKernel<AttentionArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(AttentionBackwardKeyKernel));
        if (rows > 0)
            queryPass(AttentionConfig(rows, g.D), s, View<float>(q), View<float>(k), View<float>(v), View<float>(o), View<float>(lse), View<float>(dO), View<float>(dq), View<float>(delta));
        keyPass(AttentionConfig(keys, g.D), s, View<float>(q), View<float>(k), View<float>(v), View<float>(lse), View<float>(dO), View<float>(delta), View<float>(dk), View<float>(dv));
    }

    /// <summary>The kernels hold a head in four registers per lane of a 32-lane warp: D ≤ <see cref="MaxHeadDim"/>.</summary>
    private static void RequireSupportedHeadSize(AttentionShape g)
    {
        if (g.D > MaxHeadDim) throw new ArgumentException($"attention: head size {g.D} exceeds the supported {MaxHeadDim}");
    }

    /// <summary>One warp per query (or key) row; the head dims are spread over its lanes, four at most each.</summary>
    private KernelConfig AttentionConfig(long rows, int d)
    {
        if (d > Accelerator.WarpSize * DimsPerLane)
            throw new NotSupportedException($"attention with head size {d} needs warps of {(d + DimsPerLane - 1) / DimsPerLane} lanes (this device has {Accelerator.WarpSize})");
        return new(new Index1D(checked((int)rows)), new Index1D(Accelerator.WarpSize));
    }
}
