using System.Globalization;
using System.Text.RegularExpressions;

namespace LoRAM.Data;

/// <summary>GSM8K's strict-match rule (as in lm-evaluation-harness, "#### (\-?[0-9\.\,]+)"): the answer is the
/// number right after the first "####"; text without "####" has no answer, whatever numbers it holds.
/// Parsing is tolerant only of the number's form: thousands commas ("1,234"), a leading "$", a trailing period.</summary>
public static partial class Gsm8kAnswer
{
    [GeneratedRegex(@"####\s*\$?\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)")]
    private static partial Regex Final();

    /// <summary>The final number after "####", or null when there is none.</summary>
    public static decimal? Extract(string text)
    {
        var m = Final().Match(text);
        if (!m.Success) return null;
        var digits = m.Groups[1].Value.Replace(",", "");
        return decimal.TryParse(digits, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint,
            CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    /// <summary>Strict match: the generation's "####" number equals the reference's (numerically, so 42 = 42.0).</summary>
    public static bool Matches(string generated, string reference)
    {
        var want = Extract(reference) ?? throw new ArgumentException("the reference answer has no \"#### number\"", nameof(reference));
        return Extract(generated) == want;
    }
}
