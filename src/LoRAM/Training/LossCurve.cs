using System.Globalization;
using System.Text;

namespace LoRAM.Training;

/// <summary>One optimizer step as the loss curve records it. <see cref="Loss"/> is the token-weighted mean
/// training loss over the step's micro-batches; <see cref="GradNorm"/> the global gradient norm before clipping.</summary>
public sealed record StepRecord(int Step, long Tokens, double Loss, double LearningRate, double GradNorm, double? EvalLoss,
    double TokensPerSecond, double Seconds);

/// <summary>
/// The loss curve as CSV (<c>loss.csv</c>): one row per optimizer step, numbers in round-trip form so a curve read
/// back is bit-identical to the one written (exact-resume comparisons rely on it). Columns: step, tokens (seen so
/// far), loss, lr, grad_norm, eval_loss (empty when not evaluated), tokens_per_s, seconds (wall time of the step).
/// </summary>
public static class LossCurve
{
    public const string FileName = "loss.csv";
    public const string Header = "step,tokens,loss,lr,grad_norm,eval_loss,tokens_per_s,seconds";

    public static string Row(StepRecord r)
    {
        static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        return string.Join(',', r.Step.ToString(CultureInfo.InvariantCulture), r.Tokens.ToString(CultureInfo.InvariantCulture),
            F(r.Loss), F(r.LearningRate), F(r.GradNorm), r.EvalLoss is { } e ? F(e) : "", F(r.TokensPerSecond), F(r.Seconds));
    }

    public static string Format(IEnumerable<StepRecord> rows)
    {
        var sb = new StringBuilder(Header).Append('\n');
        foreach (var r in rows) sb.Append(Row(r)).Append('\n');
        return sb.ToString();
    }

    public static List<StepRecord> Read(string path)
    {
        var rows = new List<StepRecord>();
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != Header) throw new FormatException($"{path}: not a loss curve (expected the header '{Header}')");
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = lines[i].Split(',');
            if (f.Length != 8) throw new FormatException($"{path}:{i + 1}: expected 8 fields, found {f.Length}");
            string[] names = Header.Split(',');
            double D(int k)
            {
                if (double.TryParse(f[k], System.Globalization.NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && !double.IsNaN(v)) return v;
                throw new FormatException($"{path}:{i + 1}: field '{names[k]}' is '{f[k]}', not a number");
            }
            long L(int k, long max)
            {
                if (long.TryParse(f[k], System.Globalization.NumberStyles.None, CultureInfo.InvariantCulture, out long v) && v <= max) return v;
                throw new FormatException($"{path}:{i + 1}: field '{names[k]}' is '{f[k]}', not a whole number in [0, {max}]");
            }
            rows.Add(new StepRecord((int)L(0, int.MaxValue), L(1, long.MaxValue), D(2), D(3), D(4), f[5].Length == 0 ? null : D(5), D(6), D(7)));
        }
        return rows;
    }
}
