using System.Text.Json.Nodes;
using LoRAM.Data;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Training;

/// <summary>
/// A corpus packed into fixed-length training windows (GPT-style pre-training): every document becomes
/// BOS + its tokens + EOS, the documents are concatenated into one stream, and the stream is cut into windows of
/// T + 1 tokens starting at multiples of T — inputs are the first T, targets the last T, so every token of the
/// stream is a target exactly once per epoch and nothing is padded. Windows cross document boundaries; the model
/// learns that BOS starts a new document.
///
/// The last <c>heldOutWindows</c> windows of the stream are kept out of training for validation. The training
/// windows are visited in a seeded random order, reshuffled each epoch; the order is a pure function of
/// (seed, epoch), so the position (epoch, index) is all a checkpoint needs.
/// </summary>
public sealed class PackedCorpus : IBatchSource
{
    private readonly int[] _stream;
    private readonly int _trainWindows;
    private int[] _order;

    public PackedCorpus(int[] stream, int sequenceLength, int seed, int heldOutWindows = 0)
    {
        if (sequenceLength < 1) throw new ArgumentOutOfRangeException(nameof(sequenceLength));
        if (heldOutWindows < 0) throw new ArgumentOutOfRangeException(nameof(heldOutWindows));
        int windows = stream.Length <= 1 ? 0 : (stream.Length - 1) / sequenceLength;
        if (windows - heldOutWindows < 1)
            throw new ArgumentException($"the corpus has {stream.Length} tokens: too few for one training window of {sequenceLength} + 1 tokens" +
                                        (heldOutWindows > 0 ? $" beside {heldOutWindows} held-out windows" : ""));
        _stream = stream;
        SequenceLength = sequenceLength;
        Seed = seed;
        HeldOutWindows = heldOutWindows;
        _trainWindows = windows - heldOutWindows;
        _order = Order(0);
    }

    /// <summary>Tokenizes documents with <paramref name="tokenizer"/> (BOS + text + EOS each) into one stream.</summary>
    public static int[] Tokenize(IEnumerable<string> documents, ITokenizer tokenizer)
    {
        var stream = new List<int>();
        foreach (var doc in documents)
        {
            stream.AddRange(tokenizer.Encode(doc, addBos: true));
            stream.Add(tokenizer.EosId);
        }
        return stream.ToArray();
    }

    public int SequenceLength { get; }
    public int Seed { get; }
    public int HeldOutWindows { get; }
    /// <summary>Tokens of the packed stream (training and held-out).</summary>
    public long StreamTokens => _stream.Length;
    /// <summary>Training windows per epoch.</summary>
    public int TrainingWindows => _trainWindows;

    /// <summary>Epoch of the next window (0-based).</summary>
    public int Epoch { get; private set; }
    /// <summary>Index of the next window within this epoch's order.</summary>
    public int Index { get; private set; }

    public TokenBatch Next(int sequences)
    {
        int t = SequenceLength;
        var inputs = new int[sequences * t];
        var targets = new int[sequences * t];
        for (int s = 0; s < sequences; s++)
        {
            if (Index == _trainWindows) { Epoch++; Index = 0; _order = Order(Epoch); }
            CopyWindow(_order[Index++], inputs.AsSpan(s * t, t), targets.AsSpan(s * t, t));
        }
        return new TokenBatch(inputs, targets, sequences, t);
    }

    /// <summary>The held-out windows, <paramref name="sequences"/> at a time (the last batch may be smaller).</summary>
    public IEnumerable<TokenBatch> HeldOut(int sequences)
    {
        int t = SequenceLength;
        for (int first = 0; first < HeldOutWindows; first += sequences)
        {
            int n = Math.Min(sequences, HeldOutWindows - first);
            var inputs = new int[n * t];
            var targets = new int[n * t];
            for (int s = 0; s < n; s++) CopyWindow(_trainWindows + first + s, inputs.AsSpan(s * t, t), targets.AsSpan(s * t, t));
            yield return new TokenBatch(inputs, targets, n, t);
        }
    }

    private void CopyWindow(int window, Span<int> inputs, Span<int> targets)
    {
        int t = SequenceLength, start = window * t;
        _stream.AsSpan(start, t).CopyTo(inputs);
        _stream.AsSpan(start + 1, t).CopyTo(targets);
    }

    /// <summary>A seeded Fisher–Yates permutation of the training windows for one epoch (SplitMix64, so a seed
    /// names the same order on every .NET version).</summary>
    private int[] Order(int epoch)
    {
        var order = Enumerable.Range(0, _trainWindows).ToArray();
        Rng.For(Seed, $"packed-corpus-order/{epoch}").Shuffle(order);
        return order;
    }

    public JsonObject SaveState() => new()
    {
        ["kind"] = "packed-corpus",
        ["seed"] = Seed,
        ["sequence_length"] = SequenceLength,
        ["stream_tokens"] = _stream.Length,
        ["held_out_windows"] = HeldOutWindows,
        ["epoch"] = Epoch,
        ["index"] = Index,
    };

    public void LoadState(JsonObject state)
    {
        void Same(string field, long ours)
        {
            long theirs = CheckpointFields.Long(state, field, 0, long.MaxValue, "data");
            if (theirs != ours) throw new ArgumentException($"the checkpoint's data has {field} = {theirs}, this run's {ours}");
        }
        if (CheckpointFields.String(state, "kind", "data") != "packed-corpus") throw new ArgumentException($"the checkpoint's data state is of kind '{state["kind"]}', not packed-corpus");
        Same("seed", Seed);
        Same("sequence_length", SequenceLength);
        Same("stream_tokens", _stream.Length);
        Same("held_out_windows", HeldOutWindows);
        int epoch = CheckpointFields.Int(state, "epoch", 0, int.MaxValue, "data");
        int index = CheckpointFields.Int(state, "index", 0, _trainWindows, "data");
        Epoch = epoch;
        Index = index;
        _order = Order(Epoch);
    }
}
