namespace LoRAM.Data;

/// <summary>SplitMix64: a tiny seeded generator whose output is fixed by this file, not by the runtime
/// (System.Random's seeded sequence is not promised to stay the same across .NET versions), so a seed names
/// the same data set forever.</summary>
internal sealed class Rng(ulong seed)
{
    private ulong _state = seed;

    /// <summary>A generator for one named purpose, independent of how much any other stream consumed.</summary>
    public static Rng For(int seed, string purpose)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in purpose) { h ^= c; h *= 1099511628211UL; }
        return new Rng(((ulong)(uint)seed << 32 | (uint)seed) ^ h);
    }

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, n).</summary>
    public int Next(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        return (int)(NextUInt64() % (ulong)n);
    }

    /// <summary>Uniform in [lo, hi] (both inclusive).</summary>
    public int Between(int lo, int hi) => lo + Next(hi - lo + 1);

    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public bool Chance(double p) => NextDouble() < p;

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    /// <summary><paramref name="k"/> distinct items in random order.</summary>
    public List<T> Sample<T>(IReadOnlyList<T> items, int k)
    {
        var copy = items.ToList();
        Shuffle(copy);
        return copy.GetRange(0, Math.Min(k, copy.Count));
    }

    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>Expands "{a|b|c}" alternatives (non-nested) into one random choice each, so every template
    /// sentence comes in several phrasings.</summary>
    public string Vary(string template)
    {
        if (!template.Contains('{')) return template;
        var sb = new System.Text.StringBuilder(template.Length);
        int i = 0;
        while (i < template.Length)
        {
            int open = template.IndexOf('{', i);
            if (open < 0) { sb.Append(template, i, template.Length - i); break; }
            int close = template.IndexOf('}', open);
            sb.Append(template, i, open - i);
            var options = template.Substring(open + 1, close - open - 1).Split('|');
            sb.Append(Pick(options));
            i = close + 1;
        }
        return sb.ToString();
    }
}
