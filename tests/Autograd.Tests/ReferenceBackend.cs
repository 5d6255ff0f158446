using System.Runtime.InteropServices;
using LoRAM.Tensors;

namespace LoRAM.Autograd.Tests;

/// <summary>
/// A deliberately plain backend for the autograd tests: managed arrays, scalar loops, every sum in double,
/// written from the formulas in <see cref="Backend"/>'s contract and nothing else. It lets the autograd be
/// checked independently of the SIMD and ILGPU kernels (which are checked against it the same way), and its
/// double accumulation keeps finite-difference noise low.
/// </summary>
public sealed class ReferenceBackend : Backend
{
    public override string Name => "reference";

    protected override Storage AllocateStorage(long bytes) => new ArrayStorage(this, bytes);

    public override Storage Borrow(IntPtr pointer, long bytes, IDisposable? owner)
    {
        var s = new ArrayStorage(this, bytes);
        Marshal.Copy(pointer, s.Data, 0, checked((int)bytes));
        owner?.Dispose();
        return s;
    }

    private sealed class ArrayStorage(Backend b, long bytes) : Storage(b, bytes)
    {
        public readonly byte[] Data = new byte[bytes];
        public override bool Pooled => true;
        protected override void Free() { }
    }

    private static Span<byte> Bytes(Tensor t) => t.IsDisposed ? throw new ObjectDisposedException(t.ToString()) :
        ((ArrayStorage)t.Storage).Data.AsSpan(checked((int)(t.Offset * t.DType.Size())), checked((int)t.Bytes));

    private static Span<float> F(Tensor t) => t.DType == DType.F32 ? MemoryMarshal.Cast<byte, float>(Bytes(t)) : throw new ArgumentException($"expected F32, got {t.DType}");
    private static Span<int> I(Tensor t) => MemoryMarshal.Cast<byte, int>(Bytes(t));

    /// <summary>Any float dtype, as float32 values (a copy).</summary>
    private static float[] Read(Tensor t) => t.DType switch
    {
        DType.F32 => F(t).ToArray(),
        DType.BF16 => MemoryMarshal.Cast<byte, ushort>(Bytes(t)).ToArray().Select(BFloat16.ToSingle).ToArray(),
        DType.F16 => MemoryMarshal.Cast<byte, Half>(Bytes(t)).ToArray().Select(h => (float)h).ToArray(),
        _ => throw new ArgumentException($"not a float dtype: {t.DType}"),
    };

    protected override void UploadCore(ReadOnlySpan<byte> source, Tensor destination) => source.CopyTo(Bytes(destination));
    protected override void DownloadCore(Tensor source, Span<byte> destination) => Bytes(source).CopyTo(destination);
    protected override void CopyCore(Tensor source, Tensor destination) => Bytes(source).ToArray().CopyTo(Bytes(destination));
    public override void Clear(Tensor tensor) => Bytes(tensor).Clear();
    protected override void FillCore(Tensor tensor, float value) => F(tensor).Fill(value);
    public override void Synchronize() { }

    protected override void GemmCore(GemmDims dims, Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta)
    {
        int m = c.Dim(-2), n = c.Dim(-1);
        int k = transA ? a.Dim(-2) : a.Dim(-1);
        int batch = (int)(c.Length / ((long)m * n));
        int bBatch = (int)(b.Length / ((long)b.Dim(-2) * b.Dim(-1)));
        if ((transA ? a.Dim(-1) : a.Dim(-2)) != m || (transB ? b.Dim(-1) : b.Dim(-2)) != k || (transB ? b.Dim(-2) : b.Dim(-1)) != n
            || a.Length != (long)batch * m * k || (bBatch != batch && bBatch != 1))
            throw new ArgumentException($"gemm shapes A{Shape(a)}{(transA ? "ᵀ" : "")} B{Shape(b)}{(transB ? "ᵀ" : "")} C{Shape(c)}");
        var A = Read(a); var B = Read(b); var C = F(c);
        for (int z = 0; z < batch; z++)
        {
            int ao = z * m * k, bo = (bBatch == 1 ? 0 : z) * k * n, co = z * m * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                        s += (double)A[ao + (transA ? p * m + i : i * k + p)] * B[bo + (transB ? j * k + p : p * n + j)];
                    double prior = beta == 0 ? 0 : beta * (double)C[co + i * n + j];
                    C[co + i * n + j] = (float)(alpha * s + prior);
                }
        }
    }

    /// <summary>y_g = x·W_gᵀ for each weight, in double.</summary>
    protected override void MultiLinearCore(MultiLinearDims dims, Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> outputs)
    {
        int m = dims.M, k = dims.K;
        var X = Read(x);
        for (int g = 0; g < weights.Count; g++)
        {
            var W = Read(weights[g]);
            var Y = F(outputs[g]);
            int n = dims.N[g];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += (double)X[i * k + p] * W[j * k + p];
                    Y[i * n + j] = (float)s;
                }
        }
    }

    /// <summary>C = alpha·A·op(Ŵ) + beta·C with ŵ_i = NF4[code_i]·absmax_{i/64} (high nibble = even element), in double.</summary>
    public override void Nf4Gemm(Tensor a, Nf4Matrix w, bool transW, Tensor c, float alpha = 1, float beta = 0)
    {
        var (m, n, k) = Nf4GemmShape(a, w, transW, c);
        var codes = Bytes(w.Codes).ToArray();
        var absmax = F(w.Absmax).ToArray();
        var wf = new float[(long)w.Rows * w.Cols];
        for (int i = 0; i < wf.Length; i++)
            wf[i] = Nf4Matrix.Levels[i % 2 == 0 ? codes[i / 2] >> 4 : codes[i / 2] & 0xF] * absmax[i / Nf4Matrix.BlockSize];
        var A = F(a).ToArray(); var C = F(c);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)A[i * k + p] * wf[transW ? j * k + p : p * n + j];
                C[i * n + j] = (float)(alpha * s + (beta == 0 ? 0 : beta * (double)C[i * n + j]));
            }
    }

    private static string Shape(Tensor t) => "[" + string.Join(",", t.ShapeArray()) + "]";

    private static void Map(Tensor x, Tensor y, Func<double, double> f)
    {
        var X = F(x).ToArray(); var Y = F(y);
        for (int i = 0; i < X.Length; i++) Y[i] = (float)f(X[i]);
    }

    private static void Map2(Tensor a, Tensor b, Tensor y, Func<double, double, double> f)
    {
        var A = F(a).ToArray(); var B = F(b).ToArray(); var Y = F(y);
        if (A.Length != B.Length || A.Length != Y.Length) throw new ArgumentException("lengths differ");
        for (int i = 0; i < A.Length; i++) Y[i] = (float)f(A[i], B[i]);
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    protected override void AddCore(Tensor a, Tensor b, Tensor y) => Map2(a, b, y, (p, q) => p + q);
    protected override void SubCore(Tensor a, Tensor b, Tensor y) => Map2(a, b, y, (p, q) => p - q);
    protected override void MulCore(Tensor a, Tensor b, Tensor y) => Map2(a, b, y, (p, q) => p * q);
    protected override void ScaleCore(Tensor x, float alpha, Tensor y) => Map(x, y, v => alpha * v);
    protected override void AxpyCore(float alpha, Tensor x, Tensor y) => Map2(x, y, y, (p, q) => q + alpha * p);
    protected override void SiluCore(Tensor x, Tensor y) => Map(x, y, v => v * Sigmoid(v));
    protected override void SiluBackwardCore(Tensor x, Tensor dy, Tensor dx) =>
        Map2(x, dy, dx, (v, g) => g * Sigmoid(v) * (1 + v * (1 - Sigmoid(v))));
    protected override void SwiGluCore(Tensor gate, Tensor up, Tensor y) => Map2(gate, up, y, (g, u) => g * Sigmoid(g) * u);

    protected override void SwiGluBackwardCore(Tensor gate, Tensor up, Tensor dy, Tensor dgate, Tensor dup)
    {
        var G = F(gate).ToArray(); var U = F(up).ToArray(); var D = F(dy).ToArray();
        var dG = F(dgate); var dU = F(dup);
        for (int i = 0; i < G.Length; i++)
        {
            double s = Sigmoid(G[i]);
            dG[i] = (float)(D[i] * U[i] * s * (1 + G[i] * (1 - s)));
            dU[i] = (float)(D[i] * G[i] * s);
        }
    }

    /// <summary>u(seed, i): SplitMix64 of (seed, i), top 24 bits as a fraction.</summary>
    public static double Uniform(ulong seed, long i)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (ulong)(i + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 40) / (double)(1 << 24);
    }

    protected override void DropoutCore(Tensor x, float p, ulong seed, Tensor y)
    {
        var X = F(x).ToArray(); var Y = F(y);
        for (int i = 0; i < X.Length; i++) Y[i] = Uniform(seed, i) >= p ? (float)(X[i] / (1.0 - p)) : 0f;
    }

    protected override void ConvertCore(Tensor source, Tensor destination)
    {
        var v = Read(source);
        switch (destination.DType)
        {
            case DType.F32: v.CopyTo(F(destination)); break;
            case DType.BF16: { var d = MemoryMarshal.Cast<byte, ushort>(Bytes(destination)); for (int i = 0; i < v.Length; i++) d[i] = BFloat16.FromSingle(v[i]); break; }
            case DType.F16: { var d = MemoryMarshal.Cast<byte, Half>(Bytes(destination)); for (int i = 0; i < v.Length; i++) d[i] = (Half)v[i]; break; }
            default: throw new ArgumentException($"cannot convert to {destination.DType}");
        }
    }

    protected override void TransposeCore(Tensor x, Tensor y)
    {
        int r = x.Dim(-2), c = x.Dim(-1), batch = (int)(x.Length / ((long)r * c));
        var X = F(x).ToArray(); var Y = F(y);
        for (int z = 0; z < batch; z++)
            for (int i = 0; i < r; i++)
                for (int j = 0; j < c; j++) Y[z * r * c + j * r + i] = X[z * r * c + i * c + j];
    }

    private static void Rowwise(Tensor x, Tensor y, Func<float[], double> f)
    {
        int cols = x.Cols; var X = F(x).ToArray(); var Y = F(y);
        for (int r = 0; r < x.Rows; r++) Y[r] = (float)f(X.AsSpan(r * cols, cols).ToArray());
    }

    protected override void RowSumCore(Tensor x, Tensor y) => Rowwise(x, y, row => row.Sum(v => (double)v));
    protected override double SumSquaresCore(Tensor x) => F(x).ToArray().Sum(v => (double)v * v);

    protected override void SoftmaxCore(Tensor x, Tensor y)
    {
        int cols = x.Cols; var X = F(x).ToArray(); var Y = F(y);
        for (int r = 0; r < x.Rows; r++)
        {
            var row = X.AsSpan(r * cols, cols);
            double max = double.NegativeInfinity; foreach (var v in row) max = Math.Max(max, v);
            double sum = 0; foreach (var v in row) sum += Math.Exp(v - max);
            for (int c = 0; c < cols; c++) Y[r * cols + c] = (float)(Math.Exp(row[c] - max) / sum);
        }
    }

    protected override void SoftmaxBackwardCore(Tensor y, Tensor dy, Tensor dx)
    {
        int cols = y.Cols; var Y = F(y).ToArray(); var D = F(dy).ToArray(); var DX = F(dx);
        for (int r = 0; r < y.Rows; r++)
        {
            double dot = 0; for (int c = 0; c < cols; c++) dot += (double)D[r * cols + c] * Y[r * cols + c];
            for (int c = 0; c < cols; c++) DX[r * cols + c] = (float)(Y[r * cols + c] * (D[r * cols + c] - dot));
        }
    }

    protected override void RmsNormCore(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd)
    {
        int d = x.Cols; var X = F(x).ToArray(); var W = Read(weight); var Y = F(y); var R = F(rstd);
        for (int r = 0; r < x.Rows; r++)
        {
            double ms = 0; for (int c = 0; c < d; c++) ms += (double)X[r * d + c] * X[r * d + c];
            double rs = 1 / Math.Sqrt(ms / d + eps);
            R[r] = (float)rs;
            for (int c = 0; c < d; c++) Y[r * d + c] = (float)(X[r * d + c] * rs * W[c]);
        }
    }

    protected override void RmsNormBackwardCore(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor? dweight)
    {
        int d = x.Cols; var X = F(x).ToArray(); var W = Read(weight); var R = F(rstd).ToArray(); var D = F(dy).ToArray();
        var DX = F(dx);
        var dw = new double[d];
        for (int r = 0; r < x.Rows; r++)
        {
            double rs = R[r], dot = 0;
            for (int c = 0; c < d; c++) dot += (double)W[c] * D[r * d + c] * X[r * d + c];
            for (int c = 0; c < d; c++)
            {
                DX[r * d + c] = (float)(rs * W[c] * D[r * d + c] - X[r * d + c] * rs * rs * rs / d * dot);
                dw[c] += (double)D[r * d + c] * X[r * d + c] * rs;
            }
        }
        if (dweight is not null) { var DW = F(dweight); for (int c = 0; c < d; c++) DW[c] = (float)(DW[c] + dw[c]); }
    }

    protected override void RopeCore(Tensor x, Tensor cos, Tensor sin, Tensor positions, bool inverse, Tensor y)
    {
        int heads = x.Dim(-2), hd = x.Dim(-1), h = hd / 2, tokens = (int)(x.Length / ((long)heads * hd));
        var X = F(x).ToArray(); var C = F(cos).ToArray(); var S = F(sin).ToArray(); var P = I(positions).ToArray(); var Y = F(y);
        for (int t = 0; t < tokens; t++)
            for (int hh = 0; hh < heads; hh++)
            {
                int o = (t * heads + hh) * hd;
                for (int i = 0; i < h; i++)
                {
                    double c = C[P[t] * h + i], s = inverse ? -S[P[t] * h + i] : S[P[t] * h + i];
                    double a = X[o + i], b = X[o + i + h];
                    Y[o + i] = (float)(a * c - b * s);
                    Y[o + i + h] = (float)(b * c + a * s);
                }
            }
    }

    protected override void EmbeddingGatherCore(Tensor table, Tensor ids, Tensor y)
    {
        int d = table.Dim(-1); var T = Read(table); var ID = I(ids).ToArray(); var Y = F(y);
        for (int i = 0; i < ID.Length; i++) T.AsSpan(ID[i] * d, d).CopyTo(Y.Slice(i * d, d));
    }

    protected override void EmbeddingScatterAddCore(Tensor ids, Tensor dy, Tensor dtable)
    {
        int d = dtable.Dim(-1); var ID = I(ids).ToArray(); var D = F(dy).ToArray(); var T = F(dtable);
        for (int i = 0; i < ID.Length; i++)
            for (int c = 0; c < d; c++) T[ID[i] * d + c] += D[i * d + c];
    }

    protected override void AttentionCore(AttentionShape shape, Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse)
    {
        int B = q.Dim(0), T = q.Dim(1), Hq = q.Dim(2), D = q.Dim(3), S = k.Dim(1), Hkv = k.Dim(2), g = Hq / Hkv;
        var Q = F(q).ToArray(); var K = F(k).ToArray(); var V = F(v).ToArray(); var O = F(o);
        var L = lse is null ? null : F(lse).ToArray();
        for (int b = 0; b < B; b++)
            for (int h = 0; h < Hq; h++)
                for (int t = 0; t < T; t++)
                {
                    var (p, logZ) = Probabilities(Q, K, b, t, h, T, S, Hq, Hkv, D, g, scale);
                    for (int e = 0; e < D; e++)
                    {
                        double acc = 0;
                        for (int s = 0; s < p.Length; s++) acc += p[s] * V[((b * S + s) * Hkv + h / g) * D + e];
                        O[((b * T + t) * Hq + h) * D + e] = (float)acc;
                    }
                    if (L is not null) L[(b * Hq + h) * T + t] = (float)logZ;
                }
        if (L is not null) L.CopyTo(F(lse!));
    }

    private static (double[] P, double LogZ) Probabilities(float[] Q, float[] K, int b, int t, int h, int T, int S, int Hq, int Hkv, int D, int g, float scale)
    {
        int visible = S - T + t + 1;
        var score = new double[visible];
        for (int s = 0; s < visible; s++)
        {
            double dot = 0;
            for (int e = 0; e < D; e++) dot += (double)Q[((b * T + t) * Hq + h) * D + e] * K[((b * S + s) * Hkv + h / g) * D + e];
            score[s] = scale * dot;
        }
        double max = score.Max(), sum = score.Sum(z => Math.Exp(z - max));
        double logZ = max + Math.Log(sum);
        return (score.Select(z => Math.Exp(z - logZ)).ToArray(), logZ);
    }

    protected override void AttentionBackwardCore(AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO, float scale, Tensor dq, Tensor dk, Tensor dv)
    {
        int B = q.Dim(0), T = q.Dim(1), Hq = q.Dim(2), D = q.Dim(3), S = k.Dim(1), Hkv = k.Dim(2), g = Hq / Hkv;
        var Q = F(q).ToArray(); var K = F(k).ToArray(); var V = F(v).ToArray(); var G = F(dO).ToArray();
        var dQ = new double[Q.Length]; var dK = new double[K.Length]; var dV = new double[V.Length];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < Hq; h++)
                for (int t = 0; t < T; t++)
                {
                    var (p, _) = Probabilities(Q, K, b, t, h, T, S, Hq, Hkv, D, g, scale);
                    int qo = ((b * T + t) * Hq + h) * D;
                    var dp = new double[p.Length];
                    double di = 0;
                    for (int s = 0; s < p.Length; s++)
                    {
                        int ko = ((b * S + s) * Hkv + h / g) * D;
                        for (int e = 0; e < D; e++)
                        {
                            dV[ko + e] += p[s] * G[qo + e];       // dV = Pᵀ·dO
                            dp[s] += (double)G[qo + e] * V[ko + e]; // dP = dO·Vᵀ
                        }
                        di += p[s] * dp[s];
                    }
                    for (int s = 0; s < p.Length; s++)
                    {
                        int ko = ((b * S + s) * Hkv + h / g) * D;
                        double ds = p[s] * (dp[s] - di) * scale;    // dScores through the softmax, times scale
                        for (int e = 0; e < D; e++)
                        {
                            dQ[qo + e] += ds * K[ko + e];
                            dK[ko + e] += ds * Q[qo + e];
                        }
                    }
                }
        Write(dq, dQ); Write(dk, dK); Write(dv, dV);
    }

    private static void Write(Tensor t, double[] values)
    {
        var s = F(t);
        for (int i = 0; i < values.Length; i++) s[i] = (float)values[i];
    }

    protected override void CrossEntropyCore(Tensor logits, Tensor targets, int ignoreIndex, Tensor losses, Tensor lse)
    {
        int V = logits.Cols; var X = F(logits).ToArray(); var Tg = I(targets).ToArray(); var Lo = F(losses); var Ls = F(lse);
        for (int r = 0; r < logits.Rows; r++)
        {
            var row = X.AsSpan(r * V, V);
            double max = double.NegativeInfinity; foreach (var v in row) max = Math.Max(max, v);
            double sum = 0; foreach (var v in row) sum += Math.Exp(v - max);
            double l = max + Math.Log(sum);
            Ls[r] = (float)l;
            Lo[r] = Tg[r] == ignoreIndex ? 0f : (float)(l - row[Tg[r]]);
        }
    }

    protected override void CrossEntropyBackwardCore(Tensor logits, Tensor targets, Tensor lse, int ignoreIndex, float scale, Tensor dlogits)
    {
        int V = logits.Cols; var X = F(logits).ToArray(); var Tg = I(targets).ToArray(); var Ls = F(lse).ToArray(); var D = F(dlogits);
        for (int r = 0; r < logits.Rows; r++)
            for (int c = 0; c < V; c++)
                D[r * V + c] = Tg[r] == ignoreIndex ? 0f
                    : (float)(scale * (Math.Exp(X[r * V + c] - Ls[r]) - (c == Tg[r] ? 1 : 0)));
    }

    protected override void AdamWCore(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
        float weightDecay, float biasCorrection1, float biasCorrection2)
    {
        var P = F(param); var G = F(grad).ToArray(); var M = F(m); var Vv = F(v);
        for (int i = 0; i < G.Length; i++)
        {
            double mi = beta1 * (double)M[i] + (1 - beta1) * (double)G[i];
            double vi = beta2 * (double)Vv[i] + (1 - beta2) * (double)G[i] * G[i];
            M[i] = (float)mi; Vv[i] = (float)vi;
            P[i] = (float)(P[i] - lr * (weightDecay * P[i] + mi / biasCorrection1 / (Math.Sqrt(vi / biasCorrection2) + eps)));
        }
    }
}
