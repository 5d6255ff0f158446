namespace LoRAM.Llama.Generation;

/// <summary>How the next token is drawn from the logits. Temperature 0 is greedy decoding (argmax).
/// The order of the filters is Hugging Face's: temperature, then top-k, then top-p.</summary>
/// <param name="Temperature">Divides the logits; 0 means greedy.</param>
/// <param name="TopK">Keep only the k most likely tokens; 0 keeps all.</param>
/// <param name="TopP">Nucleus sampling: keep the smallest set of most likely tokens whose probability sums to at least p; 1 keeps all.</param>
/// <param name="Seed">Seed of the sampling stream, so a generation can be repeated exactly.</param>
public sealed record SamplingOptions(float Temperature = 0f, int TopK = 0, float TopP = 1f, int Seed = 0)
{
    public static SamplingOptions Greedy { get; } = new();

    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"--temperature must be ≥ 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"--top-k must be ≥ 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"--top-p must be in (0, 1], got {TopP}");
    }
}

/// <summary>Draws token ids from logits according to <see cref="SamplingOptions"/>; deterministic given the seed.</summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private int[] _order = [];
    private double[] _probs = [];

    public Sampler(SamplingOptions options)
    {
        options.Validate();
        _options = options;
        _random = new Random(options.Seed);
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) throw new ArgumentException("no logits to sample from");
        if (_options.Temperature == 0f) return ArgMax(logits);

        int n = logits.Length;
        if (_order.Length != n) { _order = new int[n]; _probs = new double[n]; }

        // Softmax of logits / T over every token, in double so tiny probabilities in the tail survive.
        double max = double.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += _probs[i] = Math.Exp((logits[i] - max) / _options.Temperature);
        for (int i = 0; i < n; i++) { _probs[i] /= sum; _order[i] = i; }

        var probs = _probs;
        if (_options.TopK == 0 && _options.TopP >= 1f)
        {
            // Plain temperature sampling needs no order: draw in id order (a full sort of a 50k vocabulary would
            // cost more than a decode step of a small model).
            double v = _random.NextDouble();
            for (int i = 0; i < n; i++)
            {
                v -= probs[i];
                if (v < 0) return i;
            }
            return ArgMax(logits);   // rounding left u just above the total: the mode is as good a pick as any
        }

        // Most likely first; ties broken by id so the order (and the draw) is reproducible.
        Array.Sort(_order, (a, b) => probs[b] != probs[a] ? probs[b].CompareTo(probs[a]) : a.CompareTo(b));

        int keep = _options.TopK > 0 ? Math.Min(_options.TopK, n) : n;
        if (_options.TopP < 1f)
        {
            // Renormalise over the top-k survivors, then keep the shortest prefix reaching p (at least one token).
            double kept = 0;
            for (int i = 0; i < keep; i++) kept += probs[_order[i]];
            double cumulative = 0;
            int nucleus = 0;
            while (nucleus < keep)
            {
                cumulative += probs[_order[nucleus++]] / kept;
                if (cumulative >= _options.TopP) break;
            }
            keep = nucleus;
        }

        double total = 0;
        for (int i = 0; i < keep; i++) total += probs[_order[i]];
        double u = _random.NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            u -= probs[_order[i]];
            if (u < 0) return _order[i];
        }
        return _order[keep - 1];
    }

    /// <summary>Index of the largest logit (the first, on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
