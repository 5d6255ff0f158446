using System.Text;

namespace LoRAM.Data;

/// <summary>The mathematical half of the corpus (the OpenWebMath analog): worked column sums, products by
/// splitting a factor, multiplication tables, checked subtractions and divisions, sums of runs of numbers, and
/// word problems with their solutions. Every equation is written "a op b = c" (or a chain of one operator) with
/// whole numbers and is true, so a test can parse the corpus and recompute it.</summary>
internal static class ArithmeticDocuments
{
    public const int Kinds = 6;

    public static string Generate(Rng r, World w) => r.Next(Kinds) switch
    {
        0 => ColumnSum(r),
        1 => SplitProduct(r),
        2 => Table(r),
        3 => CheckedInverse(r),
        4 => RunSum(r),
        _ => WordProblem(r, w),
    };

    private static string ColumnSum(Rng r)
    {
        int a = r.Between(100, 9999), b = r.Between(100, 9999);
        var sb = new StringBuilder();
        sb.Append(r.Vary($"{{Adding|How to add}} {a} and {b} {{column by column|digit by digit}}.\n"));
        string[] places = ["ones", "tens", "hundreds", "thousands", "ten thousands"];
        int carry = 0, x = a, y = b;
        for (int i = 0; x > 0 || y > 0; i++)
        {
            int dx = x % 10, dy = y % 10;
            int s = dx + dy;
            sb.Append($"{Capital(places[i])}: {dx} + {dy} = {s}");
            if (carry > 0) sb.Append($", and with the carried 1 we get {s} + 1 = {s + 1}");
            s += carry;
            carry = s / 10;
            sb.Append(carry > 0 ? $". Write {s % 10} and carry 1.\n" : $". Write {s}.\n");
            x /= 10; y /= 10;
        }
        if (carry > 0) sb.Append("Write the last carried 1 in front.\n");
        sb.Append($"So {a} + {b} = {a + b}.");
        return sb.ToString();
    }

    private static string SplitProduct(Rng r)
    {
        int a = r.Between(12, 99), b = r.Between(3, 9);
        int tens = a / 10 * 10, ones = a % 10;
        return r.Vary($"{{To multiply|Multiplying}} {a} by {b}, split {a} into {tens} and {ones}.\n") +
               $"First {tens} * {b} = {tens * b}.\nThen {ones} * {b} = {ones * b}.\n" +
               $"Adding the parts: {tens * b} + {ones * b} = {a * b}.\nSo {a} * {b} = {a * b}.";
    }

    private static string Table(Rng r)
    {
        int n = r.Between(2, 12), upTo = r.Between(6, 12);
        var sb = new StringBuilder(r.Vary($"{{The|Times}} table {{of|for}} {n}:\n"));
        for (int i = 1; i <= upTo; i++) sb.Append($"{n} * {i} = {n * i}\n");
        sb.Append(r.Vary($"Each line adds {n} to the one before, so {n * (upTo - 1)} + {n} = {n * upTo}."));
        return sb.ToString();
    }

    private static string CheckedInverse(Rng r)
    {
        if (r.Chance(0.5))
        {
            int a = r.Between(20, 999), b = r.Between(1, a - 1);
            return r.Vary($"{{Subtract|Take away}} {b} from {a}: {a} - {b} = {a - b}.\n") +
                   r.Vary($"{{Check|To check}} by adding back: {a - b} + {b} = {a}.");
        }
        int q = r.Between(2, 30), d = r.Between(2, 12);
        int n = q * d;
        return r.Vary($"{{Divide|Share}} {n} {{by|into groups of}} {d}: {n} / {d} = {q}.\n") +
               $"This is right because {q} * {d} = {n}.";
    }

    private static string RunSum(Rng r)
    {
        int start = r.Between(1, 20), count = r.Between(3, 8);
        var terms = Enumerable.Range(start, count).ToList();
        int sum = terms.Sum();
        return r.Vary($"{{The sum of|Adding up}} the {count} numbers from {start} to {start + count - 1}:\n") +
               $"{string.Join(" + ", terms)} = {sum}.\n" +
               $"A shortcut: pair the first and last, {start} + {start + count - 1} = {2 * start + count - 1}, " +
               $"and {2 * start + count - 1} * {count} = {(2 * start + count - 1) * count}, half of which is {sum}.";
    }

    /// <summary>A word problem with its worked solution; held-out questions are skipped so the math
    /// evaluation set never appears in the corpus.</summary>
    private static string WordProblem(Rng r, World w)
    {
        MathProblem p;
        do p = MathProblems.Generate(w, r); while (HeldOut.IsHeldOut(p.Question));
        return r.Vary("{Problem|Question|Exercise}: ") + p.Question + "\n" +
               r.Vary("{Solution|Answer|Working}: ") + string.Join(" ", p.Steps) + "\n" +
               r.Vary("{The answer is|So the answer is|Answer:} ") + p.Answer + ".";
    }

    private static string Capital(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}
