namespace LoRAM.Tensors;

/// <summary>
/// A device and every kernel the project needs on it. Two implementations exist, and every kernel exists on
/// both: <c>CpuBackend</c> (SIMD C#) and <c>IlgpuBackend</c> (ILGPU kernels, CUDA or ILGPU's CPU accelerator).
/// Models and the method are written against these kernels and <see cref="Tensor"/> only.
/// </summary>
/// <remarks>
/// Conventions that hold for every kernel:
/// <list type="bullet">
/// <item>All tensors passed to one call live on this backend. Compute is float32: unless a parameter says
/// otherwise, tensors are <see cref="DType.F32"/>.</item>
/// <item>A tensor "viewed as a matrix" is [Rows, Cols] with Cols its last dimension (<see cref="Tensor.Rows"/>).</item>
/// <item>Outputs are overwritten, except parameter gradients (names starting with <c>d</c> and documented as
/// accumulating), which are added to, so gradients of shared weights sum over uses.</item>
/// <item>Elementwise kernels allow their output to alias an input exactly (same storage and offset).</item>
/// <item>Kernels are asynchronous on devices that are; <see cref="Download"/> and <see cref="Synchronize"/> wait.</item>
/// </list>
/// </remarks>
public abstract class Backend : IDisposable
{
    private readonly Dictionary<long, Stack<Storage>> _pool = new();
    private readonly object _poolLock = new();
    private long _liveBytes, _peakLiveBytes, _pooledBytes, _peakReservedBytes;

    /// <summary>"cpu", "cuda" or "ilgpu-cpu".</summary>
    public abstract string Name { get; }

    public override string ToString() => Name;

    // ==== memory ================================================================================

    /// <summary>Allocates device memory of exactly <paramref name="bytes"/> (rounded up to 64), not pooled.</summary>
    protected abstract Storage AllocateStorage(long bytes);

    /// <summary>
    /// The block size a request is served with: multiples of 64 bytes up to 4 KiB, then four classes per power of two
    /// (2ᵏ, 1.25·2ᵏ, 1.5·2ᵏ, 1.75·2ᵏ; at most 25% slack). Training allocates the same shapes every step, but SFT batches
    /// are padded to their own longest example, so shapes drift; size classes let those requests share pooled blocks
    /// instead of each exact size keeping its own.
    /// </summary>
    internal static long SizeClass(long bytes)
    {
        long size = (bytes + 63) & ~63L;
        if (size <= 4096) return size;
        long power = 1L << (63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)size));   // largest 2ᵏ ≤ size
        long step = power / 4;
        return (size + step - 1) / step * step;
    }

    /// <summary>Most bytes the pool keeps: as much as was ever live at once (a training step's worth), at least 64 MiB;
    /// a block returned beyond that is freed, so drifting shapes cannot grow the pool without bound.</summary>
    private long PoolCap => Math.Max(64L << 20, _peakLiveBytes);

    /// <summary>A block of at least <paramref name="bytes"/>, from the pool when one of its size class is free.</summary>
    internal Storage Allocate(long bytes)
    {
        long size = SizeClass(bytes);
        lock (_poolLock)
        {
            if (_pool.TryGetValue(size, out var stack) && stack.Count > 0)
            {
                var s = stack.Pop();
                s.Revive();
                _pooledBytes -= size;
                Account(size);
                return s;
            }
        }
        Storage fresh;
        try { fresh = AllocateStorage(size); }
        catch (OutOfMemoryException)
        {
            TrimPool();
            fresh = AllocateStorage(size);
        }
        lock (_poolLock) Account(size);
        return fresh;
    }

    private void Account(long size)
    {
        _liveBytes += size;
        _peakLiveBytes = Math.Max(_peakLiveBytes, _liveBytes);
        _peakReservedBytes = Math.Max(_peakReservedBytes, _liveBytes + _pooledBytes);
    }

    /// <summary>Called when the last view of <paramref name="storage"/> is disposed.</summary>
    internal void Return(Storage storage)
    {
        if (!storage.Pooled) { storage.Free(); return; }
        lock (_poolLock)
        {
            _liveBytes -= storage.Bytes;
            if (_pooledBytes + storage.Bytes <= PoolCap)
            {
                _pooledBytes += storage.Bytes;
                if (!_pool.TryGetValue(storage.Bytes, out var stack)) _pool[storage.Bytes] = stack = new Stack<Storage>();
                stack.Push(storage);
                return;
            }
        }
        storage.Free();
    }

    /// <summary>Frees every pooled block.</summary>
    public void TrimPool()
    {
        List<Storage> all;
        lock (_poolLock)
        {
            all = _pool.Values.SelectMany(s => s).ToList();
            _pool.Clear();
            _pooledBytes = 0;
        }
        foreach (var s in all) s.Free();
    }

    /// <summary>Bytes in live tensors, pooled for reuse, and the peaks since the last <see cref="ResetPeak"/>.</summary>
    public MemoryStats Memory
    {
        get { lock (_poolLock) return new MemoryStats(_liveBytes, _peakLiveBytes, _pooledBytes, _peakReservedBytes); }
    }

    public void ResetPeak()
    {
        lock (_poolLock) { _peakLiveBytes = _liveBytes; _peakReservedBytes = _liveBytes + _pooledBytes; }
    }

    /// <summary>Wraps memory the backend did not allocate (e.g. a memory-mapped file on the CPU) as storage.
    /// <paramref name="owner"/> is disposed when the last view goes. Backends that cannot borrow host memory copy it.</summary>
    public abstract Storage Borrow(IntPtr pointer, long bytes, IDisposable? owner);

    public abstract void Upload(ReadOnlySpan<byte> source, Tensor destination);
    public abstract void Download(Tensor source, Span<byte> destination);

    /// <summary>Copies the bytes of <paramref name="source"/> into <paramref name="destination"/> (equal byte counts).</summary>
    public abstract void Copy(Tensor source, Tensor destination);

    /// <summary>Sets every byte to zero.</summary>
    public abstract void Clear(Tensor tensor);

    /// <summary>Sets every F32 element to <paramref name="value"/>.</summary>
    public abstract void Fill(Tensor tensor, float value);

    /// <summary>Waits until every kernel issued so far has finished.</summary>
    public abstract void Synchronize();

    // ==== matrix products ======================================================================

    /// <summary>
    /// C[i] = alpha · op(A[i]) · op(B[i]) + beta · C[i] for every batch entry i, where op(X) = Xᵀ when the flag says so.
    /// The last two dimensions of each tensor are the matrix; the leading dimensions (their product) are the batch.
    /// A is [.., m, k] ([.., k, m] when <paramref name="transA"/>), B is [.., k, n] ([.., n, k] when
    /// <paramref name="transB"/>), C is [.., m, n]. B's batch is either A's or 1 (then broadcast to every entry).
    /// A and C are F32; B may be F32, BF16 or F16 and is read in its own dtype (a frozen weight is never
    /// materialised as float32). With beta = 0, C's prior contents are ignored (NaNs included).
    /// </summary>
    public abstract void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f);

    /// <summary>
    /// C = alpha · A · op(Ŵ) + beta · C for an NF4 matrix W [out, in] (<see cref="Nf4Matrix"/>), dequantized on the
    /// fly inside the product — each piece of Ŵ = NF4[code]·absmax is decoded as the kernel loads it, never a float32
    /// copy of W. <paramref name="transW"/>: op(Ŵ) = Ŵᵀ, A [.., in] and C [.., out] (a frozen linear's forward
    /// y = x·Ŵᵀ); otherwise op(Ŵ) = Ŵ, A [.., out] and C [.., in] (its input gradient dx = dy·Ŵ). A and C are F32,
    /// viewed as matrices; with beta = 0, C's prior contents are ignored. The result equals dequantize-then-
    /// <see cref="Gemm"/> up to float32 rounding of the sums.
    /// </summary>
    public abstract void Nf4Gemm(Tensor a, Nf4Matrix w, bool transW, Tensor c, float alpha = 1f, float beta = 0f);

    /// <summary>Shape checks shared by both backends' <see cref="Nf4Gemm"/>: returns (m, n, k) of C[m, n] = A[m, k]·op(Ŵ)[k, n].</summary>
    protected static (int M, int N, int K) Nf4GemmShape(Tensor a, Nf4Matrix w, bool transW, Tensor c)
    {
        w.Validate("Nf4Gemm");
        if (a.DType != DType.F32 || c.DType != DType.F32) throw new ArgumentException($"Nf4Gemm: A and C must be F32 (got {a.DType}, {c.DType})");
        int k = transW ? w.Cols : w.Rows, n = transW ? w.Rows : w.Cols;
        if (a.Cols != k || c.Cols != n || a.Rows != c.Rows)
            throw new ArgumentException($"Nf4Gemm: shapes do not agree: A[{string.Join(", ", a.ShapeArray())}] · W[{w.Rows}, {w.Cols}]{(transW ? "ᵀ" : "")} → C[{string.Join(", ", c.ShapeArray())}]");
        return (a.Rows, n, k);
    }

    // ==== elementwise (equal lengths; output may alias an input) ================================

    /// <summary>y = a + b.</summary>
    public abstract void Add(Tensor a, Tensor b, Tensor y);
    /// <summary>y = a - b.</summary>
    public abstract void Sub(Tensor a, Tensor b, Tensor y);
    /// <summary>y = a ⊙ b.</summary>
    public abstract void Mul(Tensor a, Tensor b, Tensor y);
    /// <summary>y = alpha · x.</summary>
    public abstract void Scale(Tensor x, float alpha, Tensor y);
    /// <summary>y += alpha · x.</summary>
    public abstract void Axpy(float alpha, Tensor x, Tensor y);
    /// <summary>y = silu(x) = x · σ(x).</summary>
    public abstract void Silu(Tensor x, Tensor y);
    /// <summary>dx = dy · silu'(x), silu'(x) = σ(x)(1 + x(1 − σ(x))).</summary>
    public abstract void SiluBackward(Tensor x, Tensor dy, Tensor dx);
    /// <summary>y = silu(gate) ⊙ up (LLaMA's SwiGLU MLP activation).</summary>
    public abstract void SwiGlu(Tensor gate, Tensor up, Tensor y);
    /// <summary>dgate = dy ⊙ up ⊙ silu'(gate); dup = dy ⊙ silu(gate).</summary>
    public abstract void SwiGluBackward(Tensor gate, Tensor up, Tensor dy, Tensor dgate, Tensor dup);

    /// <summary>Inverted dropout with a counter-based random stream: element i is kept when
    /// u(seed, i) ≥ p and scaled by 1/(1−p). Deterministic in (seed, i) and identical on every backend, so the
    /// backward pass is the same call on dy with the same seed, and no mask is stored.</summary>
    public abstract void Dropout(Tensor x, float p, ulong seed, Tensor y);

    /// <summary>Converts between F32, BF16 and F16 (round to nearest even). Equal lengths.</summary>
    public abstract void Convert(Tensor source, Tensor destination);

    /// <summary>y[b] = x[b]ᵀ for x [.., r, c] and y [.., c, r].</summary>
    public abstract void Transpose(Tensor x, Tensor y);

    // ==== row reductions (x viewed as [Rows, Cols]; y has Rows elements) ========================

    public abstract void RowSum(Tensor x, Tensor y);
    /// <summary>Σ x² over every element, accumulated in double (global gradient norm, NaN detection).</summary>
    public abstract double SumSquares(Tensor x);

    // ==== normalisation and attention pieces =====================================================

    /// <summary>Row softmax: y[r, :] = exp(x[r, :] − max) / Σ exp(x[r, :] − max).</summary>
    public abstract void Softmax(Tensor x, Tensor y);
    /// <summary>dx = y ⊙ (dy − Σ_c dy·y) per row, from the softmax output y.</summary>
    public abstract void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx);

    /// <summary>RMSNorm over the last dimension: rstd[r] = 1/√(mean(x[r]²) + eps), y = x · rstd · weight.
    /// x, y [rows, d]; weight [d]; rstd [rows] is saved for the backward pass.</summary>
    public abstract void RmsNorm(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd);
    /// <summary>dx = rstd·(w⊙dy) − x·rstd³/d · Σ(w⊙dy⊙x); dweight (accumulating, may be null) += Σ_rows dy⊙x·rstd.</summary>
    public abstract void RmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor? dweight);

    /// <summary>
    /// Rotary position embedding in Hugging Face's rotate-half layout, on x [tokens, heads, headDim]:
    /// for i &lt; h = headDim/2 and θ = angle(positions[token], i):
    /// y[i] = x[i]·cos θ − x[i+h]·sin θ, y[i+h] = x[i+h]·cos θ + x[i]·sin θ.
    /// cos and sin are tables [maxPositions, h]; positions is I32 [tokens]. <paramref name="inverse"/> rotates
    /// by −θ, which is the backward pass. y may alias x.
    /// </summary>
    public abstract void Rope(Tensor x, Tensor cos, Tensor sin, Tensor positions, bool inverse, Tensor y);

    /// <summary>y[i, :] = table[ids[i], :]. table [V, d] is F32, BF16 or F16; ids I32 [n]; y F32 [n, d].</summary>
    public abstract void EmbeddingGather(Tensor table, Tensor ids, Tensor y);
    /// <summary>dtable[ids[i], :] += dy[i, :] (accumulating; repeated ids sum).</summary>
    public abstract void EmbeddingScatterAdd(Tensor ids, Tensor dy, Tensor dtable);

    /// <summary>
    /// Causal grouped-query attention. q [B, T, Hq, D]; k, v [B, S, Hkv, D] with S ≥ T and Hq a multiple of Hkv;
    /// query head h reads key/value head h / (Hq/Hkv). Query t sits at absolute position S − T + t and sees keys
    /// s ≤ S − T + t (so T = S is training, T = 1 with a cache of S is decoding; sequences are right-padded, so
    /// padding never precedes a real token). o [B, T, Hq, D]; lse [B, Hq, T] (may be null) receives the
    /// log-sum-exp of each query's scaled scores for the backward pass. scores = scale · q·k.
    /// </summary>
    public abstract void Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse);
    /// <summary>Gradients of <see cref="Attention"/> from its inputs, output, lse and dO; dq, dk, dv are overwritten.</summary>
    public abstract void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO, float scale,
        Tensor dq, Tensor dk, Tensor dv);

    // ==== loss and optimiser ======================================================================

    /// <summary>Per-row cross-entropy: losses[r] = lse[r] − logits[r, targets[r]], with lse[r] = log Σ exp logits[r, :];
    /// rows whose target equals <paramref name="ignoreIndex"/> get loss 0. logits [n, V]; targets I32 [n]; losses, lse [n].</summary>
    public abstract void CrossEntropy(Tensor logits, Tensor targets, int ignoreIndex, Tensor losses, Tensor lse);
    /// <summary>dlogits[r, :] = scale · (softmax(logits[r, :]) − onehot(targets[r])); zero rows for ignored targets.</summary>
    public abstract void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor lse, int ignoreIndex, float scale, Tensor dlogits);

    /// <summary>
    /// One AdamW step in place (decoupled weight decay, as torch.optim.AdamW):
    /// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p = p − lr·(wd·p + (m/bc1) / (√(v/bc2) + eps)),
    /// where bc1 = 1 − β1^t and bc2 = 1 − β2^t are passed in.
    /// </summary>
    public abstract void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
        float eps, float weightDecay, float biasCorrection1, float biasCorrection2);

    public virtual void Dispose()
    {
        TrimPool();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Device memory by state, in bytes. "Reserved" = live + pooled, i.e. what the process holds.</summary>
public readonly record struct MemoryStats(long LiveBytes, long PeakLiveBytes, long PooledBytes, long PeakReservedBytes);
