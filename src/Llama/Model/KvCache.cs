using LoRAM.Tensors;

namespace LoRAM.Llama.Model;

/// <summary>
/// Keys and values of the positions seen so far, per layer, for incremental decoding of one sequence: each step
/// appends the new positions' rotated keys and values and attends over the whole prefix, so a token costs one
/// pass over the weights instead of a pass over the whole sequence. Layers of a pruned model may have different
/// numbers of key/value heads, so each layer has its own buffer [capacity, Hkv, D].
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys, _values;
    private readonly int[] _kvHeads;
    private readonly int _headDim;

    public KvCache(Backend backend, LlamaConfig config, int capacity)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), "a KV cache needs room for at least one position");
        Capacity = capacity;
        _headDim = config.HeadDim;
        int layers = config.NumHiddenLayers;
        _keys = new Tensor[layers];
        _values = new Tensor[layers];
        _kvHeads = new int[layers];
        for (int l = 0; l < layers; l++)
        {
            _kvHeads[l] = config.KvHeadsAt(l);
            _keys[l] = Tensor.Empty(backend, capacity, _kvHeads[l], _headDim);
            _values[l] = Tensor.Empty(backend, capacity, _kvHeads[l], _headDim);
        }
    }

    /// <summary>Positions the cache can hold.</summary>
    public int Capacity { get; }

    /// <summary>Positions already stored (the absolute position of the next token).</summary>
    public int Length { get; private set; }

    /// <summary>Device bytes of all layers' keys and values.</summary>
    public long Bytes => _keys.Sum(k => k.Bytes) + _values.Sum(v => v.Bytes);

    /// <summary>
    /// Stores the keys and values [1, T, Hkv, D] of positions Length..Length+T−1 of <paramref name="layer"/> and
    /// returns views [1, Length+T, Hkv, D] over every stored position (the caller disposes them).
    /// </summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        int t = keys.Dim(1), rowSize = _kvHeads[layer] * _headDim;
        if (keys.Dim(0) != 1) throw new ArgumentException("the KV cache holds one sequence; decode with batch size 1");
        if (Length + t > Capacity) throw new InvalidOperationException($"KV cache full: {Length} + {t} positions exceed its capacity of {Capacity}");
        using (var k = _keys[layer].View((long)Length * rowSize, 1, t, _kvHeads[layer], _headDim))
            keys.Backend.Copy(keys, k);
        using (var v = _values[layer].View((long)Length * rowSize, 1, t, _kvHeads[layer], _headDim))
            values.Backend.Copy(values, v);
        int total = Length + t;
        return (_keys[layer].View(0, 1, total, _kvHeads[layer], _headDim), _values[layer].View(0, 1, total, _kvHeads[layer], _headDim));
    }

    /// <summary>Marks <paramref name="count"/> more positions as stored (after every layer appended them).</summary>
    internal void Advance(int count) => Length += count;

    /// <summary>Forgets every position (the buffers are kept for the next sequence).</summary>
    public void Clear() => Length = 0;

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
