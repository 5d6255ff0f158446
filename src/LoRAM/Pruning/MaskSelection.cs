namespace LoRAM.Pruning;

/// <summary>Choosing which weights to remove: the k lowest scores of a comparison group.</summary>
internal static class MaskSelection
{
    /// <summary>
    /// Marks exactly <paramref name="k"/> entries with the lowest scores as pruned (kept = false). Ties at the
    /// threshold go to the lowest index, so the choice is deterministic.
    /// </summary>
    public static void PruneLowest(ReadOnlySpan<double> scores, long k, Span<bool> kept)
    {
        int n = scores.Length;
        kept.Fill(true);
        if (k <= 0) return;
        if (k >= n) { kept.Fill(false); return; }
        var sorted = scores.ToArray();
        Array.Sort(sorted);
        double threshold = sorted[k - 1];
        long below = 0;
        for (int i = 0; i < n; i++)
            if (scores[i] < threshold) { kept[i] = false; below++; }
        for (int i = 0; i < n && below < k; i++)
            if (scores[i] == threshold) { kept[i] = false; below++; }
    }

    /// <summary>
    /// N:M within one group of m consecutive scores: removes the m − n lowest (ties to the lowest index),
    /// writing kept flags for the group.
    /// </summary>
    public static void PruneLowestInGroup(ReadOnlySpan<double> scores, int prune, Span<bool> kept)
    {
        int m = scores.Length;
        kept.Fill(true);
        for (int p = 0; p < prune; p++)
        {
            int best = -1;
            for (int t = 0; t < m; t++)
                if (kept[t] && (best < 0 || scores[t] < scores[best])) best = t;
            kept[best] = false;
        }
    }
}
