using System.Collections.Concurrent;
using System.Text;

namespace LoRAM.Llama.Tokenization;

/// <summary>
/// Byte-pair encoding of one word, as Hugging Face's <c>BPE</c> model does it. The word starts as one symbol per
/// character (unknown characters become their UTF-8 bytes' <c>&lt;0xNN&gt;</c> tokens with byte_fallback, else the
/// unk token, fused when fuse_unk); then the adjacent pair whose merge has the lowest rank is merged, leftmost first,
/// until no pair has a merge. The pairs wait in a priority queue keyed by (rank, position) over a linked list of
/// symbols, so a word of n characters costs O(n log n), not a rescan per merge. With ignore_merges (LLaMA-3) a word
/// that is itself in the vocabulary is one token and skips the merges.
/// </summary>
internal sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<long, long> _merges;         // (left id, right id) → (rank, merged id)
    private readonly int[] _charIds;                         // id of each single-UTF-16-char token, -1 if none
    private readonly int[] _byteIds;                         // id of "<0xNN>" for each byte, -1 if none
    private readonly string? _unkToken, _prefix, _suffix;
    private readonly bool _byteFallback, _fuseUnk, _ignoreMerges;
    private readonly string _source;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private const int CacheCapacity = 100_000, CachedWordLength = 256;

    public BpeModel(Dictionary<string, int> vocab, Dictionary<long, long> merges, string? unkToken, string? continuingSubwordPrefix,
        string? endOfWordSuffix, bool byteFallback, bool fuseUnk, bool ignoreMerges, string source)
    {
        _vocab = vocab;
        _merges = merges;
        _unkToken = unkToken;
        _prefix = string.IsNullOrEmpty(continuingSubwordPrefix) ? null : continuingSubwordPrefix;
        _suffix = string.IsNullOrEmpty(endOfWordSuffix) ? null : endOfWordSuffix;
        _byteFallback = byteFallback;
        _fuseUnk = fuseUnk;
        _ignoreMerges = ignoreMerges;
        _source = source;
        _charIds = new int[65536];
        Array.Fill(_charIds, -1);
        foreach (var (token, id) in vocab) if (token.Length == 1) _charIds[token[0]] = id;
        _byteIds = new int[256];
        for (int b = 0; b < 256; b++) _byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
    }

    /// <summary>Appends the ids of <paramref name="word"/> to <paramref name="output"/>.</summary>
    public void Tokenize(string word, List<int> output)
    {
        if (word.Length == 0) return;
        if (_ignoreMerges && _vocab.TryGetValue(word, out int whole)) { output.Add(whole); return; }
        if (word.Length < CachedWordLength && _cache.TryGetValue(word, out var cached)) { output.AddRange(cached); return; }
        var ids = MergeWord(word);
        if (word.Length < CachedWordLength)
        {
            if (_cache.Count >= CacheCapacity) _cache.Clear();
            _cache[word] = ids;
        }
        output.AddRange(ids);
    }

    private int[] MergeWord(string w)
    {
        // Symbols as parallel arrays: id, previous and next index in the linked list, removed flag.
        var ids = new List<int>(w.Length);
        int unkId = -1, pendingUnk = -1;   // pendingUnk: an unk symbol not yet added (fuse_unk keeps extending it)
        for (int i = 0; i < w.Length;)
        {
            int n = char.IsHighSurrogate(w[i]) && i + 1 < w.Length && char.IsLowSurrogate(w[i + 1]) ? 2 : 1;
            bool first = i == 0, last = i + n == w.Length;
            int id = -1;
            string? s = null;
            if (n == 1 && (first || _prefix is null) && (!last || _suffix is null)) id = _charIds[w[i]];
            else
            {
                s = w.Substring(i, n);
                if (!first && _prefix is not null) s = _prefix + s;
                if (last && _suffix is not null) s += _suffix;
                if (!_vocab.TryGetValue(s, out id)) id = -1;
            }
            if (id >= 0)
            {
                if (pendingUnk >= 0) { ids.Add(pendingUnk); pendingUnk = -1; }
                ids.Add(id);
            }
            else
            {
                s ??= w.Substring(i, n);
                if (_byteFallback && TryBytes(s, ids)) { i += n; continue; }   // as Hugging Face: a pending unk is not flushed first
                if (_unkToken is not null)
                {
                    if (unkId < 0 && !_vocab.TryGetValue(_unkToken, out unkId))
                        throw LlamaFormatException.In(_source, $"model.unk_token '{_unkToken}' is not in model.vocab, and the text has a character outside the vocabulary");
                    if (pendingUnk >= 0 && !_fuseUnk) ids.Add(pendingUnk);
                    pendingUnk = unkId;
                }
            }
            i += n;
        }
        if (pendingUnk >= 0) ids.Add(pendingUnk);
        if (ids.Count < 2 || _merges.Count == 0) return ids.ToArray();
        return MergeAll(ids);
    }

    private bool TryBytes(string s, List<int> ids)
    {
        int count = Encoding.UTF8.GetByteCount(s);
        Span<byte> bytes = stackalloc byte[count];
        Encoding.UTF8.GetBytes(s, bytes);
        foreach (var b in bytes) if (_byteIds[b] < 0) return false;
        foreach (var b in bytes) ids.Add(_byteIds[b]);
        return true;
    }

    private static long Key(int a, int b) => (long)a << 32 | (uint)b;

    /// <summary>Hugging Face's <c>Word::merge_all</c>: pop the (rank, position)-smallest queued pair; skip it when stale
    /// (its left symbol was merged away, or the pair now there no longer makes the queued token); merge; queue the pairs
    /// the new symbol forms with its neighbours.</summary>
    private int[] MergeAll(List<int> symbols)
    {
        int n = symbols.Count;
        var c = symbols.ToArray();
        var prev = new int[n];
        var next = new int[n];
        var removed = new bool[n];
        for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
        var queue = new PriorityQueue<int, long>(n);   // element: the merged token's id; priority: rank << 32 | position
        for (int i = 0; i + 1 < n; i++)
            if (_merges.TryGetValue(Key(c[i], c[i + 1]), out long m)) queue.Enqueue((int)m, Priority(m, i));
        while (queue.TryDequeue(out int newId, out long priority))
        {
            int pos = (int)(uint)priority;
            if (removed[pos] || next[pos] < 0) continue;
            int right = next[pos];
            if (!_merges.TryGetValue(Key(c[pos], c[right]), out long current) || (int)current != newId) continue;
            c[pos] = newId;
            removed[right] = true;
            next[pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = pos;
            if (prev[pos] >= 0 && _merges.TryGetValue(Key(c[prev[pos]], c[pos]), out long left))
                queue.Enqueue((int)left, Priority(left, prev[pos]));
            if (next[pos] >= 0 && _merges.TryGetValue(Key(c[pos], c[next[pos]]), out long after))
                queue.Enqueue((int)after, Priority(after, pos));
        }
        var result = new int[n - removed.Count(r => r)];
        for (int i = 0, k = 0; i < n; i++) if (!removed[i]) result[k++] = c[i];
        return result;
    }

    /// <summary>A merge's (rank, merged id) packed as rank &lt;&lt; 32 | id, re-keyed to rank &lt;&lt; 32 | position.</summary>
    private static long Priority(long merge, int pos) => (merge & ~0xFFFFFFFFL) | (uint)pos;

    /// <summary>The merge table entry for the pair (a, b): rank &lt;&lt; 32 | merged id.</summary>
    public static long MergeEntry(int rank, int mergedId) => (long)rank << 32 | (uint)mergedId;

    public static long PairKey(int a, int b) => Key(a, b);
}
