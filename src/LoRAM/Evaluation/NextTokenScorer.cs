using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Progress;
using LoRAM.Tensors;

namespace LoRAM.Evaluation;

/// <summary>Summed negative log-likelihood of the scored next tokens, and how many there were.</summary>
public readonly record struct NllSum(long Tokens, double Nll)
{
    public double MeanNll => Tokens == 0 ? double.NaN : Nll / Tokens;
    public double Perplexity => Math.Exp(MeanNll);
    public static NllSum operator +(NllSum a, NllSum b) => new(a.Tokens + b.Tokens, a.Nll + b.Nll);
}

/// <summary>
/// Teacher-forced scoring: for a sequence t₀..t_{n−1} the model predicts t_{i+1} from t₀..t_i, and
/// NLL = −Σ log p(t_{i+1} | t_≤i) over the positions whose label is scored. Sequences are scored in right-padded
/// batches (padding and unscored positions carry the ignore label), under no-grad, with the per-row losses of the
/// cross-entropy kernel summed in double on the host.
/// </summary>
public static class NextTokenScorer
{
    /// <summary>Scores every next token of every sequence, summed over all of them.</summary>
    public static NllSum Score(LlamaModel model, IReadOnlyList<int[]> sequences, int batchSize = 8, IProgressReporter? progress = null) =>
        Sum(ScoreEach(model, sequences.Select(s => (s, 1)).ToList(), batchSize, progress));

    /// <summary>Summed over all sequences of <see cref="ScoreEach"/>.</summary>
    public static NllSum Score(LlamaModel model, IReadOnlyList<(int[] Tokens, int FirstScored)> sequences, int batchSize = 8,
        IProgressReporter? progress = null) =>
        Sum(ScoreEach(model, sequences, batchSize, progress));

    internal static NllSum Sum(NllSum[] each) => each.Aggregate(new NllSum(0, 0), (a, b) => a + b);

    /// <summary>
    /// Per sequence, the NLL of its tokens from position <c>FirstScored</c> on (t_{FirstScored}..t_{n−1}, each given
    /// everything before it) — e.g. only an instruction's response, or only a multiple-choice continuation.
    /// <paramref name="progress"/> counts the sequences scored, as a task named <paramref name="task"/>.
    /// </summary>
    public static NllSum[] ScoreEach(LlamaModel model, IReadOnlyList<(int[] Tokens, int FirstScored)> sequences, int batchSize = 8,
        IProgressReporter? progress = null, string task = "score") =>
        [.. ScoreTokens(model, sequences, batchSize, progress, task).Select(nll =>
        {
            double sum = 0;
            foreach (var x in nll) sum += x;
            return new NllSum(nll.Length, sum);
        })];

    /// <summary>
    /// Per sequence, the NLL of each scored token: element j is −log p(t_{s+j} | t_{&lt;s+j}) with s = max(1, <c>FirstScored</c>),
    /// so the array has n − s elements. <see cref="ScoreEach"/> is their sum.
    /// </summary>
    public static float[][] ScoreTokens(LlamaModel model, IReadOnlyList<(int[] Tokens, int FirstScored)> sequences, int batchSize = 8,
        IProgressReporter? progress = null, string task = "score")
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize));
        var be = model.Backend;
        var results = new float[sequences.Count][];
        for (int i = 0; i < sequences.Count; i++) results[i] = new float[Math.Max(0, sequences[i].Tokens.Length - Math.Max(1, sequences[i].FirstScored))];
        // Similar lengths together, so little of each batch is padding.
        var order = Enumerable.Range(0, sequences.Count).OrderBy(i => sequences[i].Tokens.Length).ToArray();
        using var bar = (progress ?? LineProgress.None).Start(task, order.Length);
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var members = order.Skip(start).Take(batchSize).ToArray();
            bar.Update(start, $"{start}/{order.Length} sequences");
            int t = members.Max(i => sequences[i].Tokens.Length) - 1;
            if (t < 1) continue;
            var ids = new int[members.Length * t];
            var labels = new int[members.Length * t];
            Array.Fill(labels, Ops.IgnoreIndex);
            for (int b = 0; b < members.Length; b++)
            {
                var (tokens, first) = sequences[members[b]];
                for (int i = 0; i < t; i++) ids[b * t + i] = i < tokens.Length - 1 ? tokens[i] : tokens[^1];
                for (int i = Math.Max(1, first); i < tokens.Length; i++) labels[b * t + i - 1] = tokens[i];
            }
            if (members.All(m => results[m].Length == 0)) continue;
            float[] losses;
            using (var tape = new Tape(be))
            using (tape.NoGrad())
            using (var idTensor = Tensor.FromArray(be, ids, members.Length, t))
            using (var labelTensor = Tensor.FromArray(be, labels, members.Length * t))
            {
                var logits = model.Forward(tape, idTensor);
                using var rows = logits.Value.Reshape(-1, model.Config.VocabSize);
                using var rowLosses = Tensor.Empty(be, members.Length * t);
                using var lse = Tensor.Empty(be, members.Length * t);
                be.CrossEntropy(rows, labelTensor, Ops.IgnoreIndex, rowLosses, lse);
                losses = rowLosses.ToFloatArray();
            }
            for (int b = 0; b < members.Length; b++)
            {
                var nll = results[members[b]];
                int s = sequences[members[b]].Tokens.Length - nll.Length;   // the first scored position
                for (int j = 0; j < nll.Length; j++) nll[j] = losses[b * t + s + j - 1];
            }
        }
        bar.Update(order.Length, $"{order.Length}/{order.Length} sequences");
        return results;
    }
}
