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
/// Each kernel's contract is checked once, here: the public method checks shapes and dtypes, then calls the backend's
/// protected <c>…Core</c> implementation, which may assume them (the shapes it needs arrive derived, e.g.
/// <see cref="GemmDims"/>, <see cref="AttentionShape"/>). Backends add only what they alone can check (the CPU reads
/// ids, targets and positions from host memory and rejects those out of range; ILGPU yields NaN for them).
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
        EvictFor(size);
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

    /// <summary>
    /// Before a fresh block of <paramref name="size"/>: frees pooled blocks (largest first) until live + pooled + the new block
    /// fit in <see cref="PoolCap"/>, or the pool is empty. Blocks pooled for one phase's shapes (training activations) would
    /// otherwise stay beside the next phase's (saving, evaluation), so the memory held — live + pooled, what the process's
    /// resident set follows — never exceeds the peak of live tensors (or the new block's own growth of it).
    /// </summary>
    private void EvictFor(long size)
    {
        List<Storage>? evicted = null;
        lock (_poolLock)
        {
            while (_pooledBytes > 0 && _liveBytes + _pooledBytes + size > PoolCap)
            {
                long largest = _pool.Where(kv => kv.Value.Count > 0).Max(kv => kv.Key);
                var s = _pool[largest].Pop();
                _pooledBytes -= largest;
                (evicted ??= []).Add(s);
            }
        }
        if (evicted is not null) foreach (var s in evicted) s.Free();
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

    /// <summary>Copies host bytes into <paramref name="destination"/> (equal byte counts).</summary>
    public void Upload(ReadOnlySpan<byte> source, Tensor destination)
    {
        if (source.Length != destination.Bytes) throw new ArgumentException($"upload of {source.Length} bytes into a tensor of {destination.Bytes}");
        UploadCore(source, destination);
    }
    protected abstract void UploadCore(ReadOnlySpan<byte> source, Tensor destination);

    /// <summary>Copies the bytes of <paramref name="source"/> to the host (equal byte counts); waits for pending kernels.</summary>
    public void Download(Tensor source, Span<byte> destination)
    {
        if (destination.Length != source.Bytes) throw new ArgumentException($"download of a tensor of {source.Bytes} bytes into {destination.Length}");
        DownloadCore(source, destination);
    }
    protected abstract void DownloadCore(Tensor source, Span<byte> destination);

    /// <summary>Copies the bytes of <paramref name="source"/> into <paramref name="destination"/> (equal byte counts).</summary>
    public void Copy(Tensor source, Tensor destination)
    {
        if (source.Bytes != destination.Bytes) throw new ArgumentException($"copy of {source.Bytes} bytes into {destination.Bytes}");
        CopyCore(source, destination);
    }
    protected abstract void CopyCore(Tensor source, Tensor destination);

    /// <summary>Sets every byte to zero.</summary>
    public abstract void Clear(Tensor tensor);

    /// <summary>Sets every F32 element to <paramref name="value"/>.</summary>
    public void Fill(Tensor tensor, float value) { RequireF32("Fill", tensor); FillCore(tensor, value); }
    protected abstract void FillCore(Tensor tensor, float value);

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
    public void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f) =>
        GemmCore(GemmDims.Of(a, transA, b, transB, c), a, transA, b, transB, c, alpha, beta);
    protected abstract void GemmCore(GemmDims dims, Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta);

    /// <summary>Most weights one <see cref="MultiLinear"/> call takes (a layer's q, k and v).</summary>
    public const int MultiLinearMax = 3;

    /// <summary>
    /// Several linear layers that read the same input, in one call: y_g = x·W_gᵀ for g &lt; G ≤ <see cref="MultiLinearMax"/>
    /// (a layer's q/k/v projections, or gate/up). x F32 [.., k] is viewed as a matrix [m, k]; W_g [n_g, k] is F32, BF16
    /// or F16 (every W_g the same dtype, read in it); y_g F32 [.., n_g] holds m rows and is overwritten.
    /// The point is decoding (m ≤ 4): the rows of all W_g are streamed as if they were one [Σn_g, k] matrix, so the
    /// G products cost one parallel dispatch instead of G — each is only a few MiB, and a token runs ~7 per layer.
    /// Larger m is G ordinary products (<see cref="Gemm"/> with B = W_gᵀ). Equals G calls of <see cref="Gemm"/> up to
    /// float32 rounding of the sums.
    /// </summary>
    public void MultiLinear(Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> outputs) =>
        MultiLinearCore(MultiLinearDims.Of(x, weights, outputs), x, weights, outputs);
    protected abstract void MultiLinearCore(MultiLinearDims dims, Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> outputs);

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
    public void Add(Tensor a, Tensor b, Tensor y) { RequireElementwise("Add", a, b, y); AddCore(a, b, y); }
    protected abstract void AddCore(Tensor a, Tensor b, Tensor y);

    /// <summary>y = a - b.</summary>
    public void Sub(Tensor a, Tensor b, Tensor y) { RequireElementwise("Sub", a, b, y); SubCore(a, b, y); }
    protected abstract void SubCore(Tensor a, Tensor b, Tensor y);

    /// <summary>y = a ⊙ b.</summary>
    public void Mul(Tensor a, Tensor b, Tensor y) { RequireElementwise("Mul", a, b, y); MulCore(a, b, y); }
    protected abstract void MulCore(Tensor a, Tensor b, Tensor y);

    /// <summary>y = alpha · x.</summary>
    public void Scale(Tensor x, float alpha, Tensor y) { RequireElementwise("Scale", x, y); ScaleCore(x, alpha, y); }
    protected abstract void ScaleCore(Tensor x, float alpha, Tensor y);

    /// <summary>y += alpha · x.</summary>
    public void Axpy(float alpha, Tensor x, Tensor y) { RequireElementwise("Axpy", x, y); AxpyCore(alpha, x, y); }
    protected abstract void AxpyCore(float alpha, Tensor x, Tensor y);

    /// <summary>y = silu(x) = x · σ(x).</summary>
    public void Silu(Tensor x, Tensor y) { RequireElementwise("Silu", x, y); SiluCore(x, y); }
    protected abstract void SiluCore(Tensor x, Tensor y);

    /// <summary>dx = dy · silu'(x), silu'(x) = σ(x)(1 + x(1 − σ(x))).</summary>
    public void SiluBackward(Tensor x, Tensor dy, Tensor dx) { RequireElementwise("SiluBackward", x, dy, dx); SiluBackwardCore(x, dy, dx); }
    protected abstract void SiluBackwardCore(Tensor x, Tensor dy, Tensor dx);

    /// <summary>y = silu(gate) ⊙ up (LLaMA's SwiGLU MLP activation).</summary>
    public void SwiGlu(Tensor gate, Tensor up, Tensor y) { RequireElementwise("SwiGlu", gate, up, y); SwiGluCore(gate, up, y); }
    protected abstract void SwiGluCore(Tensor gate, Tensor up, Tensor y);

    /// <summary>dgate = dy ⊙ up ⊙ silu'(gate); dup = dy ⊙ silu(gate).</summary>
    public void SwiGluBackward(Tensor gate, Tensor up, Tensor dy, Tensor dgate, Tensor dup)
    {
        RequireElementwise("SwiGluBackward", gate, up, dy, dgate, dup);
        SwiGluBackwardCore(gate, up, dy, dgate, dup);
    }
    protected abstract void SwiGluBackwardCore(Tensor gate, Tensor up, Tensor dy, Tensor dgate, Tensor dup);

    /// <summary>Inverted dropout with a counter-based random stream: element i is kept when
    /// u(seed, i) ≥ p and scaled by 1/(1−p). Deterministic in (seed, i) and identical on every backend, so the
    /// backward pass is the same call on dy with the same seed, and no mask is stored.</summary>
    public void Dropout(Tensor x, float p, ulong seed, Tensor y)
    {
        RequireElementwise("Dropout", x, y);
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        DropoutCore(x, p, seed, y);
    }
    protected abstract void DropoutCore(Tensor x, float p, ulong seed, Tensor y);

    /// <summary>Converts between F32, BF16 and F16 (round to nearest even). Equal lengths.</summary>
    public void Convert(Tensor source, Tensor destination)
    {
        RequireSameLength("Convert", source, destination);
        if (source.DType is not (DType.F32 or DType.BF16 or DType.F16) || destination.DType is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"Convert: {source.DType} to {destination.DType} is not supported");
        ConvertCore(source, destination);
    }
    protected abstract void ConvertCore(Tensor source, Tensor destination);

    /// <summary>y[b] = x[b]ᵀ for x [.., r, c] and y [.., c, r].</summary>
    public void Transpose(Tensor x, Tensor y)
    {
        RequireSameLength("Transpose", x, y);
        if (x.Rank < 2 || y.Rank < 2) throw new ArgumentException($"Transpose: {x} into {y} is not a matrix transpose");
        if (y.Dim(-2) != x.Dim(-1) || y.Dim(-1) != x.Dim(-2) || y.DType.Size() != x.DType.Size()) throw new ArgumentException($"Transpose: {x} into {y}");
        if (x.DType.Size() is not (4 or 2)) throw new ArgumentException($"Transpose: unsupported dtype {x.DType}");
        TransposeCore(x, y);
    }
    protected abstract void TransposeCore(Tensor x, Tensor y);

    // ==== row reductions (x viewed as [Rows, Cols]; y has Rows elements) ========================

    /// <summary>y[r] = Σ_c x[r, c]. Rows must not be empty.</summary>
    public void RowSum(Tensor x, Tensor y)
    {
        RequireF32("RowSum", x, y);
        if (y.Length != x.Rows) throw new ArgumentException($"RowSum: {y} should have {x.Rows} elements for {x}");
        if (x.Cols == 0) throw new ArgumentException($"RowSum: rows of {x} are empty");
        RowSumCore(x, y);
    }
    protected abstract void RowSumCore(Tensor x, Tensor y);

    /// <summary>Σ x² over every element, accumulated in double (global gradient norm, NaN detection).</summary>
    public double SumSquares(Tensor x) { RequireF32("SumSquares", x); return SumSquaresCore(x); }
    protected abstract double SumSquaresCore(Tensor x);

    // ==== normalisation and attention pieces =====================================================

    /// <summary>Row softmax: y[r, :] = exp(x[r, :] − max) / Σ exp(x[r, :] − max).</summary>
    public void Softmax(Tensor x, Tensor y) { RequireElementwise("Softmax", x, y); SoftmaxCore(x, y); }
    protected abstract void SoftmaxCore(Tensor x, Tensor y);

    /// <summary>dx = y ⊙ (dy − Σ_c dy·y) per row, from the softmax output y.</summary>
    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx) { RequireElementwise("SoftmaxBackward", y, dy, dx); SoftmaxBackwardCore(y, dy, dx); }
    protected abstract void SoftmaxBackwardCore(Tensor y, Tensor dy, Tensor dx);

    /// <summary>RMSNorm over the last dimension: rstd[r] = 1/√(mean(x[r]²) + eps), y = x · rstd · weight.
    /// x, y [rows, d]; weight [d]; rstd [rows] is saved for the backward pass.</summary>
    public void RmsNorm(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd)
    {
        RequireElementwise("RmsNorm", x, y);
        RequireF32("RmsNorm", weight, rstd);
        if (weight.Length != x.Cols || rstd.Length != x.Rows) throw new ArgumentException($"RmsNorm: weight {weight} / rstd {rstd} do not fit {x}");
        RmsNormCore(x, weight, eps, y, rstd);
    }
    protected abstract void RmsNormCore(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd);

    /// <summary>dx = rstd·(w⊙dy) − x·rstd³/d · Σ(w⊙dy⊙x); dweight (accumulating, may be null) += Σ_rows dy⊙x·rstd.</summary>
    public void RmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor? dweight)
    {
        RequireElementwise("RmsNormBackward", x, dy, dx);
        RequireF32("RmsNormBackward", weight, rstd);
        if (dweight != null) RequireF32("RmsNormBackward", dweight);
        if (weight.Length != x.Cols || rstd.Length != x.Rows || (dweight != null && dweight.Length != x.Cols))
            throw new ArgumentException($"RmsNormBackward: weight {weight} / rstd {rstd} / dweight {dweight} do not fit {x}");
        RmsNormBackwardCore(x, weight, rstd, dy, dx, dweight);
    }
    protected abstract void RmsNormBackwardCore(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor? dweight);

    /// <summary>
    /// Rotary position embedding in Hugging Face's rotate-half layout, on x [tokens, heads, headDim]:
    /// for i &lt; h = headDim/2 and θ = angle(positions[token], i):
    /// y[i] = x[i]·cos θ − x[i+h]·sin θ, y[i+h] = x[i+h]·cos θ + x[i]·sin θ.
    /// cos and sin are tables [maxPositions, h]; positions is I32 [tokens]. <paramref name="inverse"/> rotates
    /// by −θ, which is the backward pass. y may alias x.
    /// </summary>
    public void Rope(Tensor x, Tensor cos, Tensor sin, Tensor positions, bool inverse, Tensor y)
    {
        RequireElementwise("Rope", x, y);
        RequireF32("Rope", cos, sin);
        RequireDType("Rope", DType.I32, positions);
        if (x.Rank != 3) throw new ArgumentException($"Rope: x must be [tokens, heads, headDim], got {x}");
        if (x.Dim(2) % 2 != 0 || positions.Length != x.Dim(0) || cos.Cols != x.Dim(2) / 2 || sin.Length != cos.Length)
            throw new ArgumentException($"Rope: {x} with tables {cos}, {sin} and positions {positions}");
        RopeCore(x, cos, sin, positions, inverse, y);
    }
    protected abstract void RopeCore(Tensor x, Tensor cos, Tensor sin, Tensor positions, bool inverse, Tensor y);

    /// <summary>y[i, :] = table[ids[i], :]. table [V, d] is F32, BF16 or F16; ids I32 [n]; y F32 [n, d].</summary>
    public void EmbeddingGather(Tensor table, Tensor ids, Tensor y)
    {
        RequireDType("EmbeddingGather", DType.I32, ids);
        RequireF32("EmbeddingGather", y);
        if (table.DType is not (DType.F32 or DType.BF16 or DType.F16)) throw new ArgumentException($"EmbeddingGather: table must be F32, BF16 or F16, got {table}");
        if (y.Length != ids.Length * table.Cols) throw new ArgumentException($"EmbeddingGather: {y} does not fit {ids.Length} ids of {table}");
        EmbeddingGatherCore(table, ids, y);
    }
    protected abstract void EmbeddingGatherCore(Tensor table, Tensor ids, Tensor y);

    /// <summary>dtable[ids[i], :] += dy[i, :] (accumulating; repeated ids sum).</summary>
    public void EmbeddingScatterAdd(Tensor ids, Tensor dy, Tensor dtable)
    {
        RequireDType("EmbeddingScatterAdd", DType.I32, ids);
        RequireF32("EmbeddingScatterAdd", dy, dtable);
        if (dy.Length != ids.Length * dtable.Cols) throw new ArgumentException($"EmbeddingScatterAdd: {dy} does not fit {ids.Length} ids of {dtable}");
        EmbeddingScatterAddCore(ids, dy, dtable);
    }
    protected abstract void EmbeddingScatterAddCore(Tensor ids, Tensor dy, Tensor dtable);

    /// <summary>
    /// Causal grouped-query attention. q [B, T, Hq, D]; k, v [B, S, Hkv, D] with S ≥ T and Hq a multiple of Hkv;
    /// query head h reads key/value head h / (Hq/Hkv). Query t sits at absolute position S − T + t and sees keys
    /// s ≤ S − T + t (so T = S is training, T = 1 with a cache of S is decoding; sequences are right-padded, so
    /// padding never precedes a real token). o [B, T, Hq, D]; lse [B, Hq, T] (may be null) receives the
    /// log-sum-exp of each query's scaled scores for the backward pass. scores = scale · q·k.
    /// </summary>
    public void Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse)
    {
        var shape = AttentionShape.Of(q, k, v, "Attention");
        RequireF32("Attention", q, k, v, o);
        if (!o.Shape.SequenceEqual(q.Shape)) throw new ArgumentException($"Attention: o {o} does not match q {q}");
        if (lse != null && (lse.DType != DType.F32 || lse.Length != shape.QueryRows)) throw new ArgumentException($"Attention: lse {lse} must be F32 [B, Hq, T]");
        AttentionCore(shape, q, k, v, scale, o, lse);
    }
    protected abstract void AttentionCore(AttentionShape shape, Tensor q, Tensor k, Tensor v, float scale, Tensor o, Tensor? lse);

    /// <summary>Gradients of <see cref="Attention"/> from its inputs, output, lse and dO; dq, dk, dv are overwritten.</summary>
    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO, float scale,
        Tensor dq, Tensor dk, Tensor dv)
    {
        var shape = AttentionShape.Of(q, k, v, "AttentionBackward");
        RequireF32("AttentionBackward", q, k, v, o, lse, dO, dq, dk, dv);
        if (lse.Length != shape.QueryRows || !o.Shape.SequenceEqual(q.Shape) || !dO.Shape.SequenceEqual(q.Shape)
            || !dq.Shape.SequenceEqual(q.Shape) || !dk.Shape.SequenceEqual(k.Shape) || !dv.Shape.SequenceEqual(v.Shape))
            throw new ArgumentException($"AttentionBackward: o {o}, lse {lse}, dO {dO}, dq {dq}, dk {dk}, dv {dv} do not match q {q}, k {k}");
        AttentionBackwardCore(shape, q, k, v, o, lse, dO, scale, dq, dk, dv);
    }
    protected abstract void AttentionBackwardCore(AttentionShape shape, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor dO,
        float scale, Tensor dq, Tensor dk, Tensor dv);

    // ==== loss and optimiser ======================================================================

    /// <summary>Per-row cross-entropy: losses[r] = lse[r] − logits[r, targets[r]], with lse[r] = log Σ exp logits[r, :];
    /// rows whose target equals <paramref name="ignoreIndex"/> get loss 0. logits [n, V]; targets I32 [n]; losses, lse [n].</summary>
    public void CrossEntropy(Tensor logits, Tensor targets, int ignoreIndex, Tensor losses, Tensor lse)
    {
        RequireF32("CrossEntropy", logits, losses, lse);
        RequireDType("CrossEntropy", DType.I32, targets);
        if (targets.Length != logits.Rows || losses.Length != logits.Rows || lse.Length != logits.Rows)
            throw new ArgumentException($"CrossEntropy: targets {targets}, losses {losses}, lse {lse} do not fit {logits}");
        CrossEntropyCore(logits, targets, ignoreIndex, losses, lse);
    }
    protected abstract void CrossEntropyCore(Tensor logits, Tensor targets, int ignoreIndex, Tensor losses, Tensor lse);

    /// <summary>dlogits[r, :] = scale · (softmax(logits[r, :]) − onehot(targets[r])); zero rows for ignored targets.</summary>
    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor lse, int ignoreIndex, float scale, Tensor dlogits)
    {
        RequireElementwise("CrossEntropyBackward", logits, dlogits);
        RequireF32("CrossEntropyBackward", lse);
        RequireDType("CrossEntropyBackward", DType.I32, targets);
        if (targets.Length != logits.Rows || lse.Length != logits.Rows) throw new ArgumentException($"CrossEntropyBackward: targets {targets}, lse {lse} do not fit {logits}");
        CrossEntropyBackwardCore(logits, targets, lse, ignoreIndex, scale, dlogits);
    }
    protected abstract void CrossEntropyBackwardCore(Tensor logits, Tensor targets, Tensor lse, int ignoreIndex, float scale, Tensor dlogits);

    /// <summary>
    /// One AdamW step in place (decoupled weight decay, as torch.optim.AdamW):
    /// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p = p − lr·(wd·p + (m/bc1) / (√(v/bc2) + eps)),
    /// where bc1 = 1 − β1^t and bc2 = 1 − β2^t are passed in.
    /// </summary>
    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
        float eps, float weightDecay, float biasCorrection1, float biasCorrection2)
    {
        RequireElementwise("AdamW", param, grad, m, v);
        AdamWCore(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2);
    }
    protected abstract void AdamWCore(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
        float eps, float weightDecay, float biasCorrection1, float biasCorrection2);

    // ==== contract checks shared by the kernels above ============================================

    /// <summary>Every tensor is F32 and has the first one's length (an elementwise kernel's operands).</summary>
    private static void RequireElementwise(string kernel, params ReadOnlySpan<Tensor> tensors)
    {
        RequireF32(kernel, tensors);
        RequireSameLength(kernel, tensors);
    }

    private static void RequireSameLength(string kernel, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
            if (t.Length != tensors[0].Length) throw new ArgumentException($"{kernel}: lengths differ ({tensors[0]} vs {t})");
    }

    private static void RequireF32(string kernel, params ReadOnlySpan<Tensor> tensors) => RequireDType(kernel, DType.F32, tensors);

    private static void RequireDType(string kernel, DType dtype, params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
            if (t.DType != dtype) throw new ArgumentException($"{kernel}: expected a {dtype} tensor, got {t}");
    }


    public virtual void Dispose()
    {
        TrimPool();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Device memory by state, in bytes. "Reserved" = live + pooled, i.e. what the process holds.</summary>
public readonly record struct MemoryStats(long LiveBytes, long PeakLiveBytes, long PooledBytes, long PeakReservedBytes);
