namespace LoRAM.Pruning;

/// <summary>
/// The pruning function P(·) of Eq. (3), by the paper's names: the two structured variants remove whole
/// key/value groups and MLP channels (a smaller dense model); the non-structured ones keep the shapes and zero
/// weights under a mask. Wanda and magnitude are the issue's baselines.
/// </summary>
public enum PruningMethod
{
    /// <summary>LoRAM-Rand: structured, units chosen uniformly at random (seeded).</summary>
    Rand,
    /// <summary>LoRAM-Stru: structured, units ranked by first-order Taylor importance (LLM-Pruner).</summary>
    Stru,
    /// <summary>LoRAM-Semi: SparseGPT with N:M semi-structured masks (4:8 as in the paper).</summary>
    Semi,
    /// <summary>LoRAM-Unst: SparseGPT, unstructured at the ratio.</summary>
    Unst,
    /// <summary>Wanda baseline: |W|·‖X‖₂ per output row (N:M when asked).</summary>
    Wanda,
    /// <summary>Magnitude baseline: smallest |W| of each matrix (N:M when asked).</summary>
    Magnitude,
}

public static class PruningMethods
{
    /// <summary>The command-line names, in enum order.</summary>
    public static readonly string[] Names = ["rand", "stru", "semi", "unst", "wanda", "magnitude"];

    public static string Name(this PruningMethod m) => Names[(int)m];

    public static bool IsStructured(this PruningMethod m) => m is PruningMethod.Rand or PruningMethod.Stru;

    /// <summary>Parses a command-line name; throws <see cref="ArgumentException"/> naming the valid ones.</summary>
    public static PruningMethod Parse(string name)
    {
        int i = Array.IndexOf(Names, name.Trim().ToLowerInvariant());
        if (i < 0) throw new ArgumentException($"unknown pruning method '{name}' (expected one of: {string.Join(", ", Names)})");
        return (PruningMethod)i;
    }

    /// <summary>"4:8" → SparsityTarget.SemiStructured(4, 8).</summary>
    public static SparsityTarget ParseNM(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int n) || !int.TryParse(parts[1], out int m) || n <= 0 || m <= 0 || n >= m)
            throw new ArgumentException($"--nm must be N:M with 0 < N < M (e.g. 4:8 or 2:4), got '{text}'");
        return SparsityTarget.SemiStructured(n, m);
    }
}
