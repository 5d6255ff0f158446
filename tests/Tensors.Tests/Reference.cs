namespace LoRAM.Tensors.Tests;

/// <summary>
/// Float64 reference implementations of every Backend kernel, written as plain loops straight from the
/// doc comments in <c>Backend.cs</c>. Inputs are the float32 values the kernel sees; outputs are double, so a
/// kernel is judged against the exact answer, not against another float32 implementation.
/// Shapes are passed explicitly; layouts are row-major as in the contract.
/// </summary>
public static class Reference
{
    // ==== helpers ================================================================================

    /// <summary>n values uniform in [-scale, scale), reproducible from <paramref name="seed"/>.</summary>
    public static float[] RandomValues(int n, int seed, double scale = 1)
    {
        var rng = new Random(seed);
        var r = new float[n];
        for (int i = 0; i < n; i++) r[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return r;
    }

    /// <summary>Asserts |e − a| ≤ absTol + relTol·|e| element-wise; the failure names the worst element.</summary>
    public static void AssertClose(double[] expected, float[] actual, double relTol, double absTol, string what)
    {
        if (expected.Length != actual.Length)
            Assert.Fail($"{what}: expected {expected.Length} elements, got {actual.Length}");
        int worst = -1;
        double worstExcess = 0, maxAbsErr = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (double.IsInfinity(e) && e == a) continue;
            double err = Math.Abs(e - a);
            if (double.IsNaN(err)) err = double.PositiveInfinity;
            maxAbsErr = Math.Max(maxAbsErr, err);
            double excess = err / (absTol + relTol * Math.Abs(e));
            if (excess > 1 && (worst < 0 || excess > worstExcess)) { worst = i; worstExcess = excess; }
        }
        if (worst >= 0)
            Assert.Fail($"{what}: element {worst} of {expected.Length} is {actual[worst]:R}, expected {expected[worst]:R} " +
                        $"(|err| {Math.Abs(expected[worst] - actual[worst]):E3} > {absTol:E1} + {relTol:E1}·|e|; max |err| {maxAbsErr:E3})");
    }

    public static void AssertClose(float[] expected, float[] actual, double relTol, double absTol, string what) =>
        AssertClose(Array.ConvertAll(expected, x => (double)x), actual, relTol, absTol, what);

    public static double[] ToDouble(float[] x) => Array.ConvertAll(x, v => (double)v);

    // ==== matrix product =========================================================================

    /// <summary>C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i]; B's batch is <paramref name="batch"/> or 1 (broadcast).
    /// c may be null when beta = 0.</summary>
    public static double[] Gemm(float[] a, bool transA, float[] b, bool transB, float[]? c, int batch, int m, int n, int k,
        bool broadcastB = false, double alpha = 1, double beta = 0)
    {
        var r = new double[batch * m * n];
        for (int bi = 0; bi < batch; bi++)
        {
            int ao = bi * m * k, bo = broadcastB ? 0 : bi * k * n, co = bi * m * n;
            for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = transA ? a[ao + p * m + i] : a[ao + i * k + p];
                    double bv = transB ? b[bo + j * k + p] : b[bo + p * n + j];
                    s += av * bv;
                }
                r[co + i * n + j] = alpha * s + (beta == 0 ? 0 : beta * c![co + i * n + j]);
            }
        }
        return r;
    }

    // ==== elementwise ============================================================================

    public static double[] Add(float[] a, float[] b) => Map(a, b, (x, y) => x + y);
    public static double[] Sub(float[] a, float[] b) => Map(a, b, (x, y) => x - y);
    public static double[] Mul(float[] a, float[] b) => Map(a, b, (x, y) => x * y);
    public static double[] Scale(float[] x, double alpha) => Array.ConvertAll(x, v => alpha * v);
    /// <summary>The new y of y += alpha·x.</summary>
    public static double[] Axpy(double alpha, float[] x, float[] y) => Map(x, y, (xv, yv) => yv + alpha * xv);

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
    public static double SiluOf(double x) => x * Sigmoid(x);
    public static double SiluDerivative(double x) { double s = Sigmoid(x); return s * (1 + x * (1 - s)); }

    public static double[] Silu(float[] x) => Array.ConvertAll(x, v => SiluOf(v));
    public static double[] SiluBackward(float[] x, float[] dy) => Map(x, dy, (xv, g) => g * SiluDerivative(xv));
    public static double[] SwiGlu(float[] gate, float[] up) => Map(gate, up, (g, u) => SiluOf(g) * u);

    public static (double[] dgate, double[] dup) SwiGluBackward(float[] gate, float[] up, float[] dy)
    {
        var dg = new double[gate.Length];
        var du = new double[gate.Length];
        for (int i = 0; i < gate.Length; i++)
        {
            dg[i] = (double)dy[i] * up[i] * SiluDerivative(gate[i]);
            du[i] = dy[i] * SiluOf(gate[i]);
        }
        return (dg, du);
    }

    /// <summary>The dropout stream, written out independently of the library: splitmix64 of
    /// state seed + (i+1)·γ, top 24 bits as a float in [0, 1).</summary>
    public static double DropoutUniform(ulong seed, long index)
    {
        unchecked
        {
            ulong z = seed + (ulong)(index + 1) * 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 40) / 16777216.0;
        }
    }

    /// <summary>Inverted dropout: kept when u(seed, i) ≥ p, then scaled by 1/(1−p).</summary>
    public static double[] Dropout(float[] x, double p, ulong seed)
    {
        var r = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
            r[i] = DropoutUniform(seed, i) >= p ? x[i] / (1 - p) : 0;
        return r;
    }

    /// <summary>x rounded to a binary float with <paramref name="mantissaBits"/> stored mantissa bits, minimum normal
    /// exponent <paramref name="minExponent"/> and largest finite value <paramref name="max"/>, ties to even.</summary>
    public static double RoundToFormat(double x, int mantissaBits, int minExponent, double max)
    {
        if (double.IsNaN(x) || double.IsInfinity(x) || x == 0) return x;
        int e = Math.Max(Math.ILogB(Math.Abs(x)), minExponent);
        double ulp = Math.ScaleB(1.0, e - mantissaBits);
        double r = Math.Round(x / ulp, MidpointRounding.ToEven) * ulp;
        // Beyond max + half an ulp of max the result overflows to infinity (IEEE round-to-nearest).
        double maxUlp = Math.ScaleB(1.0, Math.ILogB(max) - mantissaBits);
        if (Math.Abs(x) >= max + maxUlp / 2) return Math.CopySign(double.PositiveInfinity, x);
        return r == 0 ? Math.CopySign(0.0, x) : r;
    }

    /// <summary>Nearest bfloat16 value (8 significant bits), ties to even.</summary>
    public static double RoundToBFloat16(double x) => RoundToFormat(x, 7, -126, 3.3895313892515355e38);

    /// <summary>Nearest IEEE half value (11 significant bits), ties to even.</summary>
    public static double RoundToHalf(double x) => RoundToFormat(x, 10, -14, 65504);

    /// <summary>y[b] = x[b]ᵀ for x [batch, r, c].</summary>
    public static double[] Transpose(float[] x, int batch, int r, int c)
    {
        var y = new double[x.Length];
        for (int b = 0; b < batch; b++)
        for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++)
            y[b * r * c + j * r + i] = x[b * r * c + i * c + j];
        return y;
    }

    // ==== row reductions ========================================================================

    public static double[] RowSum(float[] x, int rows, int cols) => Rows(x, rows, cols, row => row.Sum());
    public static double SumSquares(float[] x) => x.Sum(v => (double)v * v);

    // ==== normalisation ==========================================================================

    public static double[] Softmax(float[] x, int rows, int cols)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < cols; c++) max = Math.Max(max, x[r * cols + c]);
            for (int c = 0; c < cols; c++) sum += Math.Exp(x[r * cols + c] - max);
            for (int c = 0; c < cols; c++) y[r * cols + c] = Math.Exp(x[r * cols + c] - max) / sum;
        }
        return y;
    }

    /// <summary>dx = y ⊙ (dy − Σ dy·y) per row.</summary>
    public static double[] SoftmaxBackward(float[] y, float[] dy, int rows, int cols)
    {
        var dx = new double[y.Length];
        for (int r = 0; r < rows; r++)
        {
            double dot = 0;
            for (int c = 0; c < cols; c++) dot += (double)dy[r * cols + c] * y[r * cols + c];
            for (int c = 0; c < cols; c++) dx[r * cols + c] = y[r * cols + c] * (dy[r * cols + c] - dot);
        }
        return dx;
    }

    /// <summary>rstd = 1/√(mean x² + eps); y = x·rstd·w.</summary>
    public static (double[] y, double[] rstd) RmsNorm(float[] x, float[] w, double eps, int rows, int d)
    {
        var y = new double[x.Length];
        var rstd = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int c = 0; c < d; c++) ms += (double)x[r * d + c] * x[r * d + c];
            rstd[r] = 1 / Math.Sqrt(ms / d + eps);
            for (int c = 0; c < d; c++) y[r * d + c] = x[r * d + c] * rstd[r] * w[c];
        }
        return (y, rstd);
    }

    /// <summary>The exact gradient of <see cref="RmsNorm"/> (rstd recomputed in double); dweight is the sum over rows
    /// (add any prior accumulator yourself).</summary>
    public static (double[] dx, double[] dweight) RmsNormBackward(float[] x, float[] w, double eps, float[] dy, int rows, int d)
    {
        var (_, rstd) = RmsNorm(x, w, eps, rows, d);
        var dx = new double[x.Length];
        var dw = new double[d];
        for (int r = 0; r < rows; r++)
        {
            double s = rstd[r], dot = 0;
            for (int c = 0; c < d; c++) dot += (double)w[c] * dy[r * d + c] * x[r * d + c];
            for (int c = 0; c < d; c++)
            {
                dx[r * d + c] = s * w[c] * dy[r * d + c] - x[r * d + c] * s * s * s / d * dot;
                dw[c] += (double)dy[r * d + c] * x[r * d + c] * s;
            }
        }
        return (dx, dw);
    }

    /// <summary>LLaMA's tables: cos/sin [maxPositions, headDim/2] of θ = pos · base^(−2i/headDim).</summary>
    public static (float[] cos, float[] sin) RopeTables(int maxPositions, int headDim, double theta = 10000)
    {
        int h = headDim / 2;
        var cos = new float[maxPositions * h];
        var sin = new float[maxPositions * h];
        for (int p = 0; p < maxPositions; p++)
        for (int i = 0; i < h; i++)
        {
            double a = p * Math.Pow(theta, -2.0 * i / headDim);
            cos[p * h + i] = (float)Math.Cos(a);
            sin[p * h + i] = (float)Math.Sin(a);
        }
        return (cos, sin);
    }

    /// <summary>Rotate-half RoPE on x [tokens, heads, headDim]; <paramref name="inverse"/> rotates by −θ.</summary>
    public static double[] Rope(float[] x, float[] cos, float[] sin, int[] positions, int tokens, int heads, int headDim, bool inverse)
    {
        int h = headDim / 2;
        var y = new double[x.Length];
        for (int t = 0; t < tokens; t++)
        for (int hd = 0; hd < heads; hd++)
        {
            int o = (t * heads + hd) * headDim;
            for (int i = 0; i < h; i++)
            {
                double c = cos[positions[t] * h + i], s = inverse ? -sin[positions[t] * h + i] : sin[positions[t] * h + i];
                double a = x[o + i], b = x[o + i + h];
                y[o + i] = a * c - b * s;
                y[o + i + h] = b * c + a * s;
            }
        }
        return y;
    }

    /// <summary>y[i, :] = table[ids[i], :] (table given as its float values).</summary>
    public static double[] EmbeddingGather(float[] table, int[] ids, int d)
    {
        var y = new double[ids.Length * d];
        for (int i = 0; i < ids.Length; i++)
        for (int c = 0; c < d; c++) y[i * d + c] = table[ids[i] * d + c];
        return y;
    }

    /// <summary>The new dtable of dtable[ids[i], :] += dy[i, :].</summary>
    public static double[] EmbeddingScatterAdd(int[] ids, float[] dy, float[] dtable, int d)
    {
        var r = ToDouble(dtable);
        for (int i = 0; i < ids.Length; i++)
        for (int c = 0; c < d; c++) r[ids[i] * d + c] += dy[i * d + c];
        return r;
    }

    // ==== attention ==============================================================================

    /// <summary>Causal GQA: q [B,T,Hq,D], k/v [B,S,Hkv,D]; query t at position S−T+t sees keys s ≤ S−T+t.
    /// Returns o [B,T,Hq,D] and lse [B,Hq,T].</summary>
    public static (double[] o, double[] lse) Attention(float[] q, float[] k, float[] v, int batch, int t, int s, int hq, int hkv, int d, double scale)
    {
        var o = new double[batch * t * hq * d];
        var lse = new double[batch * hq * t];
        int group = hq / hkv;
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < hq; h++)
        for (int i = 0; i < t; i++)
        {
            var p = Probabilities(q, k, batch, t, s, hq, hkv, d, scale, b, h, i, out double l);
            lse[(b * hq + h) * t + i] = l;
            int kvh = h / group;
            for (int j = 0; j < p.Length; j++)
            for (int c = 0; c < d; c++)
                o[((b * t + i) * hq + h) * d + c] += p[j] * v[((b * s + j) * hkv + kvh) * d + c];
        }
        return (o, lse);
    }

    /// <summary>Softmax probabilities of query (b, h, i) over its visible keys 0..S−T+i, and their log-sum-exp.</summary>
    private static double[] Probabilities(float[] q, float[] k, int batch, int t, int s, int hq, int hkv, int d, double scale,
        int b, int h, int i, out double lse)
    {
        int kvh = h / (hq / hkv), visible = s - t + i + 1;
        var z = new double[visible];
        double max = double.NegativeInfinity;
        for (int j = 0; j < visible; j++)
        {
            double dot = 0;
            for (int c = 0; c < d; c++) dot += (double)q[((b * t + i) * hq + h) * d + c] * k[((b * s + j) * hkv + kvh) * d + c];
            z[j] = scale * dot;
            max = Math.Max(max, z[j]);
        }
        double sum = 0;
        for (int j = 0; j < visible; j++) sum += Math.Exp(z[j] - max);
        lse = max + Math.Log(sum);
        for (int j = 0; j < visible; j++) z[j] = Math.Exp(z[j] - lse);
        return z;
    }

    /// <summary>Exact gradients of <see cref="Attention"/>: dP = dO·vᵀ, dZ = P⊙(dP − Σ P·dP), dq = scale·dZ·k, dk = scale·dZᵀ·q, dv = Pᵀ·dO.</summary>
    public static (double[] dq, double[] dk, double[] dv) AttentionBackward(float[] q, float[] k, float[] v, float[] dO,
        int batch, int t, int s, int hq, int hkv, int d, double scale)
    {
        var dq = new double[q.Length];
        var dk = new double[k.Length];
        var dv = new double[v.Length];
        int group = hq / hkv;
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < hq; h++)
        for (int i = 0; i < t; i++)
        {
            var p = Probabilities(q, k, batch, t, s, hq, hkv, d, scale, b, h, i, out _);
            int kvh = h / group, qo = ((b * t + i) * hq + h) * d;
            var dp = new double[p.Length];
            double dot = 0;
            for (int j = 0; j < p.Length; j++)
            {
                for (int c = 0; c < d; c++) dp[j] += (double)dO[qo + c] * v[((b * s + j) * hkv + kvh) * d + c];
                dot += p[j] * dp[j];
            }
            for (int j = 0; j < p.Length; j++)
            {
                double dz = p[j] * (dp[j] - dot) * scale;
                int ko = ((b * s + j) * hkv + kvh) * d;
                for (int c = 0; c < d; c++)
                {
                    dq[qo + c] += dz * k[ko + c];
                    dk[ko + c] += dz * q[qo + c];
                    dv[ko + c] += p[j] * dO[qo + c];
                }
            }
        }
        return (dq, dk, dv);
    }

    // ==== loss and optimiser ======================================================================

    /// <summary>losses[r] = lse[r] − logits[r, target] (0 for ignored rows); lse for every row.</summary>
    public static (double[] losses, double[] lse) CrossEntropy(float[] logits, int[] targets, int n, int vocab, int ignoreIndex)
    {
        var losses = new double[n];
        var lse = new double[n];
        for (int r = 0; r < n; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < vocab; c++) max = Math.Max(max, logits[r * vocab + c]);
            for (int c = 0; c < vocab; c++) sum += Math.Exp(logits[r * vocab + c] - max);
            lse[r] = max + Math.Log(sum);
            losses[r] = targets[r] == ignoreIndex ? 0 : lse[r] - logits[r * vocab + targets[r]];
        }
        return (losses, lse);
    }

    /// <summary>dlogits = scale·(softmax − onehot(target)); zero rows for ignored targets.</summary>
    public static double[] CrossEntropyBackward(float[] logits, int[] targets, int n, int vocab, int ignoreIndex, double scale)
    {
        var p = Softmax(logits, n, vocab);
        for (int r = 0; r < n; r++)
        for (int c = 0; c < vocab; c++)
        {
            int i = r * vocab + c;
            p[i] = targets[r] == ignoreIndex ? 0 : scale * (p[i] - (c == targets[r] ? 1 : 0));
        }
        return p;
    }

    /// <summary>torch.optim.AdamW, one step: m, v moments; p ← p − lr·(wd·p + (m/bc1)/(√(v/bc2) + eps)).</summary>
    public static (double[] p, double[] m, double[] v) AdamW(float[] p, float[] g, float[] m, float[] v, double lr, double beta1,
        double beta2, double eps, double weightDecay, double biasCorrection1, double biasCorrection2)
    {
        var pn = new double[p.Length];
        var mn = new double[p.Length];
        var vn = new double[p.Length];
        for (int i = 0; i < p.Length; i++)
        {
            mn[i] = beta1 * m[i] + (1 - beta1) * g[i];
            vn[i] = beta2 * v[i] + (1 - beta2) * (double)g[i] * g[i];
            pn[i] = p[i] - lr * (weightDecay * p[i] + mn[i] / biasCorrection1 / (Math.Sqrt(vn[i] / biasCorrection2) + eps));
        }
        return (pn, mn, vn);
    }

    // ==== plumbing ===============================================================================

    private static double[] Map(float[] a, float[] b, Func<double, double, double> f)
    {
        if (a.Length != b.Length) throw new ArgumentException("lengths differ");
        var r = new double[a.Length];
        for (int i = 0; i < a.Length; i++) r[i] = f(a[i], b[i]);
        return r;
    }

    private static double[] Rows(float[] x, int rows, int cols, Func<IEnumerable<double>, double> f)
    {
        var r = new double[rows];
        for (int i = 0; i < rows; i++) r[i] = f(x.Skip(i * cols).Take(cols).Select(v => (double)v));
        return r;
    }
}
