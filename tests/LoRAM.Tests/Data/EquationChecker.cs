using System.Text.RegularExpressions;

namespace LoRAM.Tests.Data;

/// <summary>Independent reference for the generated arithmetic: finds every "a op b [op c ...] = n" with whole
/// numbers in a text and evaluates the left side with the usual precedence (* and / before + and -), in
/// exact integer arithmetic (a division must be exact).</summary>
internal static partial class EquationChecker
{
    [GeneratedRegex(@"(?<![\d.])(\d+(?: [-+*/] \d+)+) = (\d+)(?![\d])")]
    private static partial Regex Equation();

    public static List<(string Left, long Claimed)> Find(string text) =>
        Equation().Matches(text).Select(m => (m.Groups[1].Value, long.Parse(m.Groups[2].Value))).ToList();

    public static long Evaluate(string expression)
    {
        var tokens = expression.Split(' ');
        // Fold * and / into terms, then add the terms.
        var terms = new List<long> { long.Parse(tokens[0]) };
        var signs = new List<int> { 1 };
        for (int i = 1; i < tokens.Length; i += 2)
        {
            long v = long.Parse(tokens[i + 1]);
            switch (tokens[i])
            {
                case "*": terms[^1] *= v; break;
                case "/":
                    Assert.True(terms[^1] % v == 0, $"inexact division in {expression}");
                    terms[^1] /= v; break;
                case "+": terms.Add(v); signs.Add(1); break;
                default: terms.Add(v); signs.Add(-1); break;
            }
        }
        return terms.Select((t, i) => t * signs[i]).Sum();
    }
}
