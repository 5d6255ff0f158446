namespace LoRAM.Bench;

/// <summary>The `--name value` options of the bench suites that take them by name (the suites with a closed option
/// set — gemm, nf4-gemm, ilgpu-check — parse theirs in a loop that rejects unknown ones).</summary>
internal static class BenchArgs
{
    /// <summary>The value after <paramref name="name"/>, or null when the option is absent.</summary>
    public static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>The integer after <paramref name="name"/>, or <paramref name="fallback"/> when the option is absent;
    /// a value that is not an integer is an error, not a silent fallback.</summary>
    public static int Int(string[] args, string name, int fallback) =>
        Option(args, name) is { } value ? int.Parse(value) : fallback;
}
