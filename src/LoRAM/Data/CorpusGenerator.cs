namespace LoRAM.Data;

/// <summary>The general corpus for pre-training and alignment — the analog of the paper's FineWeb + OpenWebMath mix:
/// English-like prose about one <see cref="World"/> in eight styles, documents about its notable people (their
/// popularity Zipf-distributed, <see cref="Notables"/>), and arithmetic text. Deterministic by seed. corpus.txt holds the documents separated by one blank line; no document contains a blank line.</summary>
public sealed class CorpusGenerator(World world, int seed)
{
    /// <summary>Share of arithmetic documents (OpenWebMath is the smaller part of the paper's mix).</summary>
    public double MathFraction { get; init; } = 0.2;

    /// <summary>Share of documents about notable people: the world knowledge the knowledge evaluation asks about.</summary>
    public double NotableFraction { get; init; } = 0.45;

    /// <summary>An endless stream of documents; the same world and seed always give the same stream.</summary>
    public IEnumerable<string> Documents()
    {
        var rng = Rng.For(seed, "corpus");
        var popularity = new Notables.PopularitySampler(world.Notables);
        while (true)
        {
            double u = rng.NextDouble();
            yield return u < MathFraction ? ArithmeticDocuments.Generate(rng, world)
                : u < MathFraction + NotableFraction ? Notables.Document(rng, popularity)
                : ProseDocuments.Generate(rng, world);
        }
    }

    /// <summary>Documents in order until the next one would take the total over <paramref name="maxChars"/>
    /// (characters, counting the blank-line separators of corpus.txt; for a byte-level model on this ASCII text,
    /// characters are tokens).</summary>
    public IEnumerable<string> Documents(long maxChars)
    {
        long total = 0;
        foreach (var doc in Documents())
        {
            long cost = doc.Length + (total == 0 ? 0 : 2);
            if (total + cost > maxChars) yield break;
            total += cost;
            yield return doc;
        }
    }
}
