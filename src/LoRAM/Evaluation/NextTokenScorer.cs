using LoRAM.Autograd;
using LoRAM.Llama.Model;
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
    /// <summary>Scores every next token of every sequence.</summary>
    public static NllSum Score(LlamaModel model, IReadOnlyList<int[]> sequences, int batchSize = 8) =>
        Score(model, sequences.Select(s => (s, 1)).ToList(), batchSize);

    /// <summary>Scores the next tokens of each sequence from position <c>FirstScored</c> on (labels t_{FirstScored}..t_{n−1}),
    /// e.g. only an instruction's response.</summary>
    public static NllSum Score(LlamaModel model, IReadOnlyList<(int[] Tokens, int FirstScored)> sequences, int batchSize = 8)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize));
        var be = model.Backend;
        var total = new NllSum(0, 0);
        // Similar lengths together, so little of each batch is padding.
        var order = Enumerable.Range(0, sequences.Count).OrderBy(i => sequences[i].Tokens.Length).ToArray();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var batch = order.Skip(start).Take(batchSize).Select(i => sequences[i]).ToList();
            int t = batch.Max(s => s.Tokens.Length) - 1;
            if (t < 1) continue;
            var ids = new int[batch.Count * t];
            var labels = new int[batch.Count * t];
            Array.Fill(labels, Ops.IgnoreIndex);
            long scored = 0;
            for (int b = 0; b < batch.Count; b++)
            {
                var (tokens, first) = batch[b];
                for (int i = 0; i < t; i++) ids[b * t + i] = i < tokens.Length - 1 ? tokens[i] : tokens[^1];
                for (int i = Math.Max(1, first); i < tokens.Length; i++) { labels[b * t + i - 1] = tokens[i]; scored++; }
            }
            if (scored == 0) continue;
            using var tape = new Tape(be);
            using var _ = tape.NoGrad();
            using var idTensor = Tensor.FromArray(be, ids, batch.Count, t);
            using var labelTensor = Tensor.FromArray(be, labels, batch.Count * t);
            var logits = model.Forward(tape, idTensor);
            using var rows = logits.Value.Reshape(-1, model.Config.VocabSize);
            using var losses = Tensor.Empty(be, batch.Count * t);
            using var lse = Tensor.Empty(be, batch.Count * t);
            be.CrossEntropy(rows, labelTensor, Ops.IgnoreIndex, losses, lse);
            double sum = 0;
            foreach (var l in losses.ToFloatArray()) sum += l;   // ignored rows are exactly 0
            total += new NllSum(scored, sum);
        }
        return total;
    }
}
