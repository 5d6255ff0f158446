using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LoRAM.Tensors.Cpu;

// Causal grouped-query attention (Ainslie et al. 2023), tiled so that every product is a small dense GEMM.
// Work is split over key/value groups (b, kvh): a group's keys are gathered once, transposed and zero-padded, into
// Kᵀ [Dp, Sp] (Dp, Sp multiples of 16), and its queries are taken a tile at a time — R rows that are the Group query
// heads of a run of consecutive positions, so the heads that share a key/value head read it together. Per tile:
//   forward   Z = Q·Kᵀ (R × keys the last row may see), P = exp(scale·Z − m) row by row (vectorised exp), O = P·V / Σ P
//   backward  P = exp(scale·Q·Kᵀ − lse), dP = dO·Vᵀ, dZ = P ⊙ (dP − Δ) with Δ = dO·o,
//             dq = scale·dZ·K,   dKᵀ += Qᵀ·dZ,   dVᵀ += dOᵀ·P   (accumulated per group: the group owns its dk, dv)
// Keys a row may not see (causal mask) and padding get P = 0. The probability matrix is never stored: backward
// recomputes it from lse (FlashAttention's trick, Dao et al. 2022). All products run through TileGemm below.
// Hot loops are AggressiveOptimization: a training step calls attention a few dozen times, too few for tiering to
// replace the tier-0 / OSR code in time (measured: the forward ran 3-5× slower in the first calls).
public sealed unsafe partial class CpuBackend
{
    /// <summary>Target rows of a query tile (Group heads × positions); R × Sp floats of scores stay in L2.</summary>
    private const int AttentionTileRows = 64;

    protected override void AttentionCore(AttentionShape g, Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse)
    {
        float* pq = Ptr<float>(q), pk = Ptr<float>(k), pv = Ptr<float>(v), po = Ptr<float>(o);
        float* plse = lse == null ? null : Ptr<float>(lse);
        var t = new AttentionTiling(g);
        ForRange(g.B * g.Hkv, 2L * g.T * g.Group * g.S * g.D / 2 + 1, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            float* kt = Alloc((long)t.Dp * t.Sp), vr = Alloc((long)t.Sp * t.Dp);
            float* qg = Alloc((long)t.R4 * t.Dp), z = Alloc((long)t.R4 * t.Sp), og = Alloc((long)t.R4 * t.Dp);
            var inv = new float[t.R4];
            try
            {
                for (int grp = start; grp < end; grp++)
                {
                    int b = grp / g.Hkv, kvh = grp % g.Hkv;
                    GatherKv(g, t, pk, b, kvh, kt, transpose: true);
                    GatherKv(g, t, pv, b, kvh, vr, transpose: false);
                    for (int i0 = 0; i0 < g.T; i0 += t.Positions)
                    {
                        int positions = Math.Min(t.Positions, g.T - i0), rows = positions * g.Group, r4 = (rows + 3) & ~3;
                        int keys = g.S - g.T + i0 + positions, kp = (keys + 15) & ~15;   // keys the last row sees
                        GatherRows(g, t, pq, b, kvh, i0, positions, qg);
                        TileGemm(qg, t.Dp, kt, t.Sp, z, t.Sp, r4, t.Dp, kp, accumulate: false);
                        for (int r = 0; r < r4; r++)
                        {
                            var row = new Span<float>(z + (long)r * t.Sp, kp);
                            if (r >= rows) { row.Clear(); continue; }
                            int i = i0 + r / g.Group, visible = g.S - g.T + i + 1;
                            var seen = row[..visible];
                            float max = ScaleAndMax(seen, scale);
                            float sum = ExpAffine(seen, 1f, max);
                            row[visible..].Clear();
                            inv[r] = 1f / sum;
                            if (plse != null) plse[((long)b * g.Hq + kvh * g.Group + r % g.Group) * g.T + i] = max + MathF.Log(sum);
                        }
                        TileGemm(z, t.Sp, vr, t.Dp, og, t.Dp, r4, kp, t.Dp, accumulate: false);
                        for (int r = 0; r < rows; r++)
                            TensorPrimitives.Multiply(new ReadOnlySpan<float>(og + (long)r * t.Dp, g.D), inv[r],
                                new Span<float>(po + t.RowOffset(b, i0, kvh, r), g.D));
                    }
                }
            }
            finally { Free(kt); Free(vr); Free(qg); Free(z); Free(og); }
        });
    }

    protected override void AttentionBackwardCore(AttentionShape g, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO,
        float scale, Tensor dq, Tensor dk, Tensor dv)
    {
        float* pq = Ptr<float>(q), pk = Ptr<float>(k), pv = Ptr<float>(v), po = Ptr<float>(o), plse = Ptr<float>(lse);
        float* pdo = Ptr<float>(dO), pdq = Ptr<float>(dq), pdk = Ptr<float>(dk), pdv = Ptr<float>(dv);
        var t = new AttentionTiling(g);
        ForRange(g.B * g.Hkv, 5L * g.T * g.Group * g.S * g.D / 2 + 1, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, end) =>
        {
            long kvTile = (long)t.Dp * t.Sp, rowTile = (long)t.R4 * t.Dp, scoreTile = (long)t.R4 * t.Sp;
            float* kt = Alloc(kvTile), vt = Alloc(kvTile), kr = Alloc(kvTile), dkt = Alloc(kvTile), dvt = Alloc(kvTile);
            float* qg = Alloc(rowTile), dog = Alloc(rowTile), dqg = Alloc(rowTile), qgt = Alloc(rowTile), dogt = Alloc(rowTile);
            float* p = Alloc(scoreTile), dp = Alloc(scoreTile);
            try
            {
                for (int grp = start; grp < end; grp++)
                {
                    int b = grp / g.Hkv, kvh = grp % g.Hkv;
                    GatherKv(g, t, pk, b, kvh, kt, transpose: true);
                    GatherKv(g, t, pv, b, kvh, vt, transpose: true);
                    GatherKv(g, t, pk, b, kvh, kr, transpose: false);
                    new Span<float>(dkt, (int)kvTile).Clear();
                    new Span<float>(dvt, (int)kvTile).Clear();
                    for (int i0 = 0; i0 < g.T; i0 += t.Positions)
                    {
                        int positions = Math.Min(t.Positions, g.T - i0), rows = positions * g.Group, r4 = (rows + 3) & ~3;
                        int keys = g.S - g.T + i0 + positions, kp = (keys + 15) & ~15;
                        GatherRows(g, t, pq, b, kvh, i0, positions, qg);
                        GatherRows(g, t, pdo, b, kvh, i0, positions, dog);
                        TileGemm(qg, t.Dp, kt, t.Sp, p, t.Sp, r4, t.Dp, kp, accumulate: false);     // Z = Q·Kᵀ
                        TileGemm(dog, t.Dp, vt, t.Sp, dp, t.Sp, r4, t.Dp, kp, accumulate: false);   // dP = dO·Vᵀ
                        for (int r = 0; r < r4; r++)
                        {
                            var pr = new Span<float>(p + (long)r * t.Sp, kp);
                            var dpr = new Span<float>(dp + (long)r * t.Sp, kp);
                            if (r >= rows) { pr.Clear(); dpr.Clear(); continue; }
                            int i = i0 + r / g.Group, h = kvh * g.Group + r % g.Group, visible = g.S - g.T + i + 1;
                            long at = t.RowOffset(b, i0, kvh, r);
                            float l = plse[((long)b * g.Hq + h) * g.T + i];
                            float delta = TensorPrimitives.Dot(new ReadOnlySpan<float>(pdo + at, g.D), new ReadOnlySpan<float>(po + at, g.D));
                            var seen = pr[..visible];
                            ExpAffine(seen, scale, l);                                                  // P
                            pr[visible..].Clear();
                            TensorPrimitives.Subtract(dpr, delta, dpr);
                            TensorPrimitives.Multiply(dpr, pr, dpr);                                    // dZ = P ⊙ (dP − Δ)
                        }
                        TileGemm(dp, t.Sp, kr, t.Dp, dqg, t.Dp, r4, kp, t.Dp, accumulate: false);      // dZ·K
                        for (int r = 0; r < rows; r++)
                            TensorPrimitives.Multiply(new ReadOnlySpan<float>(dqg + (long)r * t.Dp, g.D), scale,
                                new Span<float>(pdq + t.RowOffset(b, i0, kvh, r), g.D));
                        Transpose(qg, r4, t.Dp, qgt);
                        Transpose(dog, r4, t.Dp, dogt);
                        TileGemm(qgt, r4, dp, t.Sp, dkt, t.Sp, t.Dp, r4, kp, accumulate: true);        // dKᵀ += Qᵀ·dZ
                        TileGemm(dogt, r4, p, t.Sp, dvt, t.Sp, t.Dp, r4, kp, accumulate: true);        // dVᵀ += dOᵀ·P
                    }
                    ScatterKv(g, t, dkt, scale, b, kvh, pdk);
                    ScatterKv(g, t, dvt, 1f, b, kvh, pdv);
                }
            }
            finally
            {
                Free(kt); Free(vt); Free(kr); Free(dkt); Free(dvt);
                Free(qg); Free(dog); Free(dqg); Free(qgt); Free(dogt); Free(p); Free(dp);
            }
        });
    }

    /// <summary>Tile sizes of one call: Dp = D and Sp = S rounded up to 16 (one zmm), a query tile of
    /// <see cref="Positions"/> positions × Group heads = R rows, R4 = R rounded up to 4 (the micro-kernel's rows).</summary>
    private readonly struct AttentionTiling
    {
        public readonly int Dp, Sp, Positions, R4, Hq, T, D, Group;

        public AttentionTiling(AttentionShape g)
        {
            Dp = (g.D + 15) & ~15;
            Sp = (g.S + 15) & ~15;
            Positions = Math.Clamp(AttentionTileRows / g.Group, 1, g.T);
            R4 = (Positions * g.Group + 3) & ~3;
            Hq = g.Hq; T = g.T; D = g.D; Group = g.Group;
        }

        /// <summary>Element offset of tile row r (position i0 + r / Group, head kvh·Group + r % Group) in [B, T, Hq, D].</summary>
        public long RowOffset(int b, int i0, int kvh, int r) =>
            (((long)b * T + i0 + r / Group) * Hq + kvh * Group + r % Group) * D;
    }

    /// <summary>The tile's query rows (or dO rows) into [R4, Dp], zero-padded: the Group heads of a position are
    /// adjacent in [B, T, Hq, D], so each position is one contiguous copy of Group·D floats.</summary>
    private static void GatherRows(AttentionShape g, AttentionTiling t, float* src, int b, int kvh, int i0, int positions, float* dst)
    {
        new Span<float>(dst, t.R4 * t.Dp).Clear();
        for (int r = 0; r < positions * g.Group; r++)
            new ReadOnlySpan<float>(src + t.RowOffset(b, i0, kvh, r), g.D).CopyTo(new Span<float>(dst + (long)r * t.Dp, g.D));
    }

    /// <summary>Keys or values of group (b, kvh) into [Sp, Dp] rows, or transposed into [Dp, Sp]; zero-padded.</summary>
    private static void GatherKv(AttentionShape g, AttentionTiling t, float* src, int b, int kvh, float* dst, bool transpose)
    {
        new Span<float>(dst, t.Dp * t.Sp).Clear();
        for (int j = 0; j < g.S; j++)
        {
            float* row = src + g.KvRow(b, j, kvh) * g.D;
            if (!transpose) new ReadOnlySpan<float>(row, g.D).CopyTo(new Span<float>(dst + (long)j * t.Dp, g.D));
            else for (int d = 0; d < g.D; d++) dst[(long)d * t.Sp + j] = row[d];
        }
    }

    /// <summary>Writes alpha·(accumulated [Dp, Sp] transpose) back as rows of dk or dv for group (b, kvh).</summary>
    private static void ScatterKv(AttentionShape g, AttentionTiling t, float* srcT, float alpha, int b, int kvh, float* dst)
    {
        for (int j = 0; j < g.S; j++)
        {
            float* row = dst + g.KvRow(b, j, kvh) * g.D;
            for (int d = 0; d < g.D; d++) row[d] = alpha * srcT[(long)d * t.Sp + j];
        }
    }

    /// <summary>dst [cols, rows] = src [rows, cols]ᵀ (small tiles: queries of one tile).</summary>
    private static void Transpose(float* src, int rows, int cols, float* dst)
    {
        for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(long)c * rows + r] = src[(long)r * cols + c];
    }

    /// <summary>
    /// C[m, n] (+)= A[m, k]·B[k, n], all row-major with leading dimensions; m a multiple of 4 and n of 16, as the
    /// attention tiles are padded. 4 rows × 64 columns of C stay in 16 zmm accumulators over the k loop (4 broadcasts,
    /// 4 loads, 16 FMAs per step); 32- and 16-column strips finish the row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileGemm(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int k, int n, bool accumulate)
    {
        for (int i = 0; i < m; i += 4)
        {
            float* a0 = a + (long)i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
            float* c0 = c + (long)i * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
            int j = 0;
            for (; j + 64 <= n; j += 64) TileGemm4x64(a0, a1, a2, a3, b + j, ldb, c0 + j, c1 + j, c2 + j, c3 + j, k, accumulate);
            for (; j + 32 <= n; j += 32)
            {
                Vector512<float> x00 = default, x01 = default, x10 = default, x11 = default,
                                 x20 = default, x21 = default, x30 = default, x31 = default;
                if (accumulate)
                {
                    x00 = Vector512.Load(c0 + j); x01 = Vector512.Load(c0 + j + 16);
                    x10 = Vector512.Load(c1 + j); x11 = Vector512.Load(c1 + j + 16);
                    x20 = Vector512.Load(c2 + j); x21 = Vector512.Load(c2 + j + 16);
                    x30 = Vector512.Load(c3 + j); x31 = Vector512.Load(c3 + j + 16);
                }
                float* bp = b + j;
                for (int p = 0; p < k; p++, bp += ldb)
                {
                    var b0 = Vector512.Load(bp);
                    var b1 = Vector512.Load(bp + 16);
                    var v0 = Vector512.Create(a0[p]);
                    x00 = Vector512.FusedMultiplyAdd(v0, b0, x00); x01 = Vector512.FusedMultiplyAdd(v0, b1, x01);
                    var v1 = Vector512.Create(a1[p]);
                    x10 = Vector512.FusedMultiplyAdd(v1, b0, x10); x11 = Vector512.FusedMultiplyAdd(v1, b1, x11);
                    var v2 = Vector512.Create(a2[p]);
                    x20 = Vector512.FusedMultiplyAdd(v2, b0, x20); x21 = Vector512.FusedMultiplyAdd(v2, b1, x21);
                    var v3 = Vector512.Create(a3[p]);
                    x30 = Vector512.FusedMultiplyAdd(v3, b0, x30); x31 = Vector512.FusedMultiplyAdd(v3, b1, x31);
                }
                x00.Store(c0 + j); x01.Store(c0 + j + 16);
                x10.Store(c1 + j); x11.Store(c1 + j + 16);
                x20.Store(c2 + j); x21.Store(c2 + j + 16);
                x30.Store(c3 + j); x31.Store(c3 + j + 16);
            }
            for (; j < n; j += 16)
            {
                Vector512<float> x0 = default, x1 = default, x2 = default, x3 = default;
                if (accumulate) { x0 = Vector512.Load(c0 + j); x1 = Vector512.Load(c1 + j); x2 = Vector512.Load(c2 + j); x3 = Vector512.Load(c3 + j); }
                float* bp = b + j;
                for (int p = 0; p < k; p++, bp += ldb)
                {
                    var b0 = Vector512.Load(bp);
                    x0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[p]), b0, x0);
                    x1 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[p]), b0, x1);
                    x2 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[p]), b0, x2);
                    x3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[p]), b0, x3);
                }
                x0.Store(c0 + j); x1.Store(c1 + j); x2.Store(c2 + j); x3.Store(c3 + j);
            }
        }
    }

    /// <summary>The 4 × 64 block of <see cref="TileGemm"/>: 16 accumulators, 4 broadcasts and 4 loads per 16 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileGemm4x64(float* a0, float* a1, float* a2, float* a3, float* bp, int ldb,
        float* c0, float* c1, float* c2, float* c3, int k, bool accumulate)
    {
        Vector512<float> x00 = default, x01 = default, x02 = default, x03 = default, x10 = default, x11 = default, x12 = default, x13 = default,
                         x20 = default, x21 = default, x22 = default, x23 = default, x30 = default, x31 = default, x32 = default, x33 = default;
        if (accumulate)
        {
            x00 = Vector512.Load(c0); x01 = Vector512.Load(c0 + 16); x02 = Vector512.Load(c0 + 32); x03 = Vector512.Load(c0 + 48);
            x10 = Vector512.Load(c1); x11 = Vector512.Load(c1 + 16); x12 = Vector512.Load(c1 + 32); x13 = Vector512.Load(c1 + 48);
            x20 = Vector512.Load(c2); x21 = Vector512.Load(c2 + 16); x22 = Vector512.Load(c2 + 32); x23 = Vector512.Load(c2 + 48);
            x30 = Vector512.Load(c3); x31 = Vector512.Load(c3 + 16); x32 = Vector512.Load(c3 + 32); x33 = Vector512.Load(c3 + 48);
        }
        for (int p = 0; p < k; p++, bp += ldb)
        {
            var b0 = Vector512.Load(bp); var b1 = Vector512.Load(bp + 16); var b2 = Vector512.Load(bp + 32); var b3 = Vector512.Load(bp + 48);
            var v = Vector512.Create(a0[p]);
            x00 = Vector512.FusedMultiplyAdd(v, b0, x00); x01 = Vector512.FusedMultiplyAdd(v, b1, x01);
            x02 = Vector512.FusedMultiplyAdd(v, b2, x02); x03 = Vector512.FusedMultiplyAdd(v, b3, x03);
            v = Vector512.Create(a1[p]);
            x10 = Vector512.FusedMultiplyAdd(v, b0, x10); x11 = Vector512.FusedMultiplyAdd(v, b1, x11);
            x12 = Vector512.FusedMultiplyAdd(v, b2, x12); x13 = Vector512.FusedMultiplyAdd(v, b3, x13);
            v = Vector512.Create(a2[p]);
            x20 = Vector512.FusedMultiplyAdd(v, b0, x20); x21 = Vector512.FusedMultiplyAdd(v, b1, x21);
            x22 = Vector512.FusedMultiplyAdd(v, b2, x22); x23 = Vector512.FusedMultiplyAdd(v, b3, x23);
            v = Vector512.Create(a3[p]);
            x30 = Vector512.FusedMultiplyAdd(v, b0, x30); x31 = Vector512.FusedMultiplyAdd(v, b1, x31);
            x32 = Vector512.FusedMultiplyAdd(v, b2, x32); x33 = Vector512.FusedMultiplyAdd(v, b3, x33);
        }
        x00.Store(c0); x01.Store(c0 + 16); x02.Store(c0 + 32); x03.Store(c0 + 48);
        x10.Store(c1); x11.Store(c1 + 16); x12.Store(c1 + 32); x13.Store(c1 + 48);
        x20.Store(c2); x21.Store(c2 + 16); x22.Store(c2 + 32); x23.Store(c2 + 48);
        x30.Store(c3); x31.Store(c3 + 16); x32.Store(c3 + 32); x33.Store(c3 + 48);
    }

    /// <summary>row ← scale·row; returns the largest element (plain vector max: the scores are finite).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ScaleAndMax(Span<float> row, float scale)
    {
        fixed (float* p = row)
        {
            int n = row.Length, j = 0;
            var vs = Vector512.Create(scale);
            var vm = Vector512.Create(float.NegativeInfinity);
            for (; j + 16 <= n; j += 16)
            {
                var x = Vector512.Load(p + j) * vs;
                x.Store(p + j);
                vm = Vector512.Max(vm, x);
            }
            float m = Vector512.Max(vm, Vector512.Create(float.NegativeInfinity)) is var v ? MaxLanes(v) : 0;
            for (; j < n; j++) m = MathF.Max(m, p[j] *= scale);
            return m;
        }
    }

    /// <summary>
    /// row ← exp(a·row − c) in place; returns the sum. Vector512 exp after Cephes' expf: n = round(x·log2 e),
    /// r = x − n·ln 2 (in two parts), e^r by a degree-6 polynomial on |r| ≤ ½ln 2, times 2ⁿ through the exponent
    /// bits; x is clamped to [−87.3, 88.7] (below, e^x < 1.2e−38 ≈ 0 at float32's normal range). Max relative error
    /// ≈ 2 ulp. TensorPrimitives.Exp measured ≈ 10 ns per element here (its Vector512 path is not taken on this
    /// CPU), 30× the polynomial.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ExpAffine(Span<float> row, float a, float c)
    {
        fixed (float* p = row)
        {
            int n = row.Length, j = 0;
            var va = Vector512.Create(a);
            var vc = Vector512.Create(c);
            var sum = Vector512<float>.Zero;
            for (; j + 16 <= n; j += 16)
            {
                var e = Exp512(Vector512.FusedMultiplyAdd(Vector512.Load(p + j), va, -vc));
                e.Store(p + j);
                sum += e;
            }
            float s = Vector512.Sum(sum);
            for (; j < n; j++) s += p[j] = MathF.Exp(a * p[j] - c);
            return s;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exp512(Vector512<float> x)
    {
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(-87.33654f)), Vector512.Create(88.72283f));
        var n = Vector512.Round(x * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var poly = Vector512.Create(1.9875691500E-4f);
        poly = Vector512.FusedMultiplyAdd(poly, r, Vector512.Create(1.3981999507E-3f));
        poly = Vector512.FusedMultiplyAdd(poly, r, Vector512.Create(8.3334519073E-3f));
        poly = Vector512.FusedMultiplyAdd(poly, r, Vector512.Create(4.1665795894E-2f));
        poly = Vector512.FusedMultiplyAdd(poly, r, Vector512.Create(1.6666665459E-1f));
        poly = Vector512.FusedMultiplyAdd(poly, r, Vector512.Create(5.0000001201E-1f));
        poly = Vector512.FusedMultiplyAdd(poly, r * r, r) + Vector512<float>.One;
        var pow2 = (Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23;
        return poly * pow2.AsSingle();
    }

    private static float MaxLanes(Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1)));
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2)));
        return q.ToScalar();
    }

    private static float* Alloc(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)(Math.Max(1, floats) * sizeof(float)), 64);

    private static void Free(float* p) => NativeMemory.AlignedFree(p);
}
