using System.Text;

namespace LoRAM.Data;

/// <summary>The held-out rule that keeps evaluation prompts out of every training file. A prompt is normalized
/// (lower case, runs of white space collapsed to one space, trimmed) and hashed with 64-bit FNV-1a; it is held out
/// when the hash falls in the first <see cref="Percent"/> of 100 buckets. Generators of training data
/// (corpus word problems, instructions) drop held-out prompts; evaluation sets keep only held-out prompts. So the
/// split depends on the prompt text alone — not on the seed or the order of generation — and a prompt can never
/// land on both sides.</summary>
public static class HeldOut
{
    /// <summary>Share of the prompt space, in percent, reserved for evaluation.</summary>
    public const int Percent = 10;

    public static bool IsHeldOut(string prompt) => Bucket(prompt) < Percent;

    /// <summary>The key of an instruction record: instruction and input joined by a space, so a math question asked
    /// as an instruction with no input has the same key as the same question in the math set.</summary>
    public static bool IsHeldOut(string instruction, string input) =>
        IsHeldOut(input.Length == 0 ? instruction : instruction + " " + input);

    public static int Bucket(string prompt)
    {
        ulong h = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(Normalize(prompt))) { h ^= b; h *= 1099511628211UL; }
        return (int)(h % 100);
    }

    public static string Normalize(string prompt)
    {
        var sb = new StringBuilder(prompt.Length);
        bool space = false;
        foreach (char c in prompt.Trim())
        {
            if (char.IsWhiteSpace(c)) { space = true; continue; }
            if (space) { sb.Append(' '); space = false; }
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }
}
