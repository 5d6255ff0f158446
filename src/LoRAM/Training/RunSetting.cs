using System.Globalization;
using System.Text.Json.Nodes;

namespace LoRAM.Training;

/// <summary>How a resumed run's value of a setting may differ from its checkpoint's.</summary>
public enum ResumeRule
{
    /// <summary>Must be equal: any change gives a different result than the uninterrupted run.</summary>
    Same,
    /// <summary>May be lower (the peak learning rate: the documented move after a divergence).</summary>
    LowerAllowed,
    /// <summary>May be higher (warm-up steps: the other documented move after a divergence).</summary>
    HigherAllowed,
}

/// <summary>
/// One setting that decides a run's result, as its flag and value (a number in round-trip form, a list, a SHA-256):
/// every checkpoint records them all, and a resumed run is refused, naming the first that differs, unless the
/// difference is one of the recovery moves its <see cref="Rule"/> allows.
/// </summary>
public sealed record RunSetting(string Flag, string Value, ResumeRule Rule = ResumeRule.Same)
{
    public static RunSetting Of(string flag, double value, ResumeRule rule = ResumeRule.Same) => new(flag, value.ToString("R", CultureInfo.InvariantCulture), rule);
    public static RunSetting Of(string flag, float value) => new(flag, value.ToString("R", CultureInfo.InvariantCulture));
    public static RunSetting Of(string flag, long value, ResumeRule rule = ResumeRule.Same) => new(flag, value.ToString(CultureInfo.InvariantCulture), rule);
    public static RunSetting Of(string flag, bool value) => new(flag, value ? "true" : "false");

    internal static JsonObject ToJson(IEnumerable<RunSetting> settings)
    {
        var o = new JsonObject();
        foreach (var s in settings) o[s.Flag] = s.Value;
        return o;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first of <paramref name="ours"/> that the checkpoint's
    /// <paramref name="saved"/> settings (of <paramref name="statePath"/>) do not allow.</summary>
    internal static void CheckResumable(IEnumerable<RunSetting> ours, JsonObject saved, string statePath)
    {
        string where = Path.GetDirectoryName(statePath)!;
        foreach (var s in ours)
        {
            string theirs = CheckpointFields.String(saved, s.Flag, "settings");
            if (theirs == s.Value) continue;
            if (s.Rule != ResumeRule.Same && double.TryParse(theirs, NumberStyles.Float, CultureInfo.InvariantCulture, out double t)
                && double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
                && (s.Rule == ResumeRule.LowerAllowed ? v < t : v > t))
                continue;
            string allowed = s.Rule switch
            {
                ResumeRule.LowerAllowed => " (only a lower value may be given on resume)",
                ResumeRule.HigherAllowed => " (only a higher value may be given on resume)",
                _ => "",
            };
            throw new ArgumentException($"{s.Flag} is {Short(s.Value)} here but {Short(theirs)} in the checkpoint {where}{allowed}");
        }
    }

    /// <summary>Digests are shown by their first 16 hex digits; other values whole.</summary>
    private static string Short(string value) => value.Length == 64 && value.All(char.IsAsciiHexDigit) ? value[..16] + "…" : value;
}
