namespace LoRAM.Data;

/// <summary>
/// A sequential document stream cut by characters the way corpus.txt counts them: documents joined by one blank line,
/// so every document after the first costs its length + 2. <see cref="Within"/> is the prefix a corpus of N characters
/// holds (<see cref="CorpusGenerator.Documents(long)"/>'s rule) and <see cref="After"/> the rest of the stream, so a
/// model pre-trained on a seed's first N characters (models/recipe.sh) has seen none of <c>After(stream, N)</c>.
/// </summary>
public static class CorpusPrefix
{
    /// <summary>Documents in order until the next one would take the total over <paramref name="maxChars"/>.</summary>
    public static IEnumerable<string> Within(IEnumerable<string> documents, long maxChars)
    {
        long total = 0;
        foreach (var doc in documents)
        {
            long cost = doc.Length + (total == 0 ? 0 : 2);
            if (total + cost > maxChars) yield break;
            total += cost;
            yield return doc;
        }
    }

    /// <summary>The documents after those <see cref="Within"/>(<paramref name="documents"/>, <paramref name="prefixChars"/>)
    /// holds: the stream from its first document that did not fit in the prefix.</summary>
    public static IEnumerable<string> After(IEnumerable<string> documents, long prefixChars)
    {
        long total = 0;
        bool skipping = true;
        foreach (var doc in documents)
        {
            if (skipping)
            {
                long cost = doc.Length + (total == 0 ? 0 : 2);
                if (total + cost <= prefixChars) { total += cost; continue; }
                skipping = false;
            }
            yield return doc;
        }
    }
}
