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
        double threshold = KthSmallest(scores.ToArray(), (int)(k - 1));
        long below = 0;
        for (int i = 0; i < n; i++)
            if (scores[i] < threshold) { kept[i] = false; below++; }
        for (int i = 0; i < n && below < k; i++)
            if (scores[i] == threshold) { kept[i] = false; below++; }
    }

    /// <summary>The value of rank <paramref name="kth"/> (0-based) of <paramref name="v"/>: Hoare quickselect, O(n) expected; reorders v.</summary>
    internal static double KthSmallest(double[] v, int kth)
    {
        int lo = 0, hi = v.Length - 1;
        while (lo < hi)
        {
            int mid = lo + (hi - lo) / 2;
            double a = v[lo], b = v[mid], c = v[hi];
            double pivot = Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c)); // median of three
            int i = lo, j = hi;
            while (i <= j)
            {
                while (v[i] < pivot) i++;
                while (v[j] > pivot) j--;
                if (i <= j) { (v[i], v[j]) = (v[j], v[i]); i++; j--; }
            }
            // Now v[lo..j] ≤ pivot ≤ v[i..hi], and everything strictly between j and i equals the pivot.
            if (kth <= j) hi = j;
            else if (kth >= i) lo = i;
            else return v[kth];
        }
        return v[lo];
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
