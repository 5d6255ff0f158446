namespace LoRAM.Data;

/// <summary>The general corpus for alignment pre-training — the analog of the paper's FineWeb + OpenWebMath mix:
/// English-like prose about one <see cref="World"/> in eight styles, mixed with arithmetic text. Deterministic by
/// seed. corpus.txt holds the documents separated by one blank line; no document contains a blank line.</summary>
public sealed class CorpusGenerator(World world, int seed)
{
    /// <summary>Share of arithmetic documents (OpenWebMath is the smaller part of the paper's mix).</summary>
    public double MathFraction { get; init; } = 0.25;

    /// <summary>An endless stream of documents; the same world and seed always give the same stream.</summary>
    public IEnumerable<string> Documents()
    {
        var rng = Rng.For(seed, "corpus");
        while (true)
            yield return rng.Chance(MathFraction) ? ArithmeticDocuments.Generate(rng, world) : ProseDocuments.Generate(rng, world);
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
