using LoRAM.Data;
using LoRAM.Llama.Generation;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Progress;

namespace LoRAM.Evaluation;

/// <summary>Multiple-choice accuracy, lm-evaluation-harness style.</summary>
public sealed record MultipleChoiceScore(int Items, double Accuracy, double AccuracyNorm);

/// <summary>Knowledge questions (<see cref="KnowledgeItem"/>): multiple-choice accuracy (raw and per-byte normalised
/// log-likelihood) and exact-match accuracy of the greedy answer, overall and by popularity tier.</summary>
public sealed record KnowledgeScore(int Items, double Accuracy, double AccuracyNorm, double ExactMatch, IReadOnlyList<KnowledgeTier> Tiers);

/// <summary>The scores of the items whose notable's rank lies in [<see cref="FirstRank"/>, <see cref="LastRank"/>].</summary>
public sealed record KnowledgeTier(int FirstRank, int LastRank, int Items, double Accuracy, double ExactMatch);

/// <summary>Strict-match accuracy on the final "#### n", and a few generations to look at.</summary>
public sealed record MathScore(int Items, double Accuracy, IReadOnlyList<(string Question, string Generated, bool Correct)> Samples);

/// <summary>
/// The three kinds of evaluation the paper reports, on any model (with or without an adapter):
/// perplexity of instruction responses or plain text, multiple-choice accuracy, and math accuracy. Each counts the
/// items it has done on an optional <see cref="IProgressReporter"/> (no log lines: a bar, or nothing).
/// </summary>
public static class Benchmarks
{
    /// <summary>Response-only perplexity of instruction records, through the training template (<see cref="InstructionTokens"/>).</summary>
    public static NllSum InstructionPerplexity(LlamaModel model, ITokenizer tokenizer, IEnumerable<InstructionRecord> records,
        int maxLength = 512, int batchSize = 8, IProgressReporter? progress = null) =>
        NextTokenScorer.Sum(NextTokenScorer.ScoreEach(model, records.Select(r =>
        {
            var t = InstructionTokens.Encode(tokenizer, r.ToExample(), maxLength);
            return (t.Ids, t.ResponseStart);
        }).ToList(), batchSize, progress, "perplexity"));

    /// <summary>Token-level perplexity of plain-text documents, each cut into windows of <paramref name="maxLength"/> tokens
    /// (every token but a window's first is scored).</summary>
    public static NllSum TextPerplexity(LlamaModel model, ITokenizer tokenizer, IEnumerable<string> documents,
        int maxLength = 512, int batchSize = 8, IProgressReporter? progress = null)
    {
        var windows = new List<int[]>();
        foreach (var doc in documents)
        {
            var ids = tokenizer.Encode(doc, addBos: true);
            for (int at = 0; at < ids.Length - 1; at += maxLength - 1)
                windows.Add(ids[at..Math.Min(ids.Length, at + maxLength)]);
        }
        return NextTokenScorer.Sum(NextTokenScorer.ScoreEach(model, windows.Where(w => w.Length >= 2).Select(w => (w, 1)).ToList(), batchSize, progress, "perplexity"));
    }

    /// <summary>
    /// Each choice is scored as a continuation " {choice}" of "Question: {question}\nAnswer:" by its summed
    /// log-likelihood: <c>acc</c> picks the largest; <c>acc_norm</c> the largest per byte of the continuation
    /// (lm-evaluation-harness's length normalisation), so long choices are not penalised for their length.
    /// </summary>
    public static MultipleChoiceScore MultipleChoice(LlamaModel model, ITokenizer tokenizer, IReadOnlyList<MultipleChoiceItem> items, int batchSize = 8,
        IProgressReporter? progress = null)
    {
        var sequences = new List<(int[], int)>();
        foreach (var item in items)
        {
            var context = tokenizer.Encode($"Question: {item.Question}\nAnswer:", addBos: true);
            foreach (var choice in item.Choices)
                sequences.Add(([.. context, .. tokenizer.Encode(" " + choice, addBos: false)], context.Length));
        }
        var nll = NextTokenScorer.ScoreEach(model, sequences, batchSize, progress, "multiple choice");
        int at = 0, right = 0, rightNorm = 0;
        foreach (var item in items)
        {
            int best = 0, bestNorm = 0;
            for (int c = 0; c < item.Choices.Count; c++)
            {
                double ll = -nll[at + c].Nll, llNorm = ll / System.Text.Encoding.UTF8.GetByteCount(" " + item.Choices[c]);
                if (ll > -nll[at + best].Nll) best = c;
                if (llNorm > -nll[at + bestNorm].Nll / System.Text.Encoding.UTF8.GetByteCount(" " + item.Choices[bestNorm])) bestNorm = c;
            }
            if (best == item.Label) right++;
            if (bestNorm == item.Label) rightNorm++;
            at += item.Choices.Count;
        }
        return new MultipleChoiceScore(items.Count, items.Count == 0 ? 0 : (double)right / items.Count, items.Count == 0 ? 0 : (double)rightNorm / items.Count);
    }

    /// <summary>
    /// Knowledge questions asked through the chat template, as the instructions teach the answer format. Multiple
    /// choice: each answer sentence is scored as the response to <c>ChatTemplate.Prompt(question)</c> by its summed
    /// log-likelihood (<c>acc</c>) and per byte (<c>acc_norm</c>), lm-evaluation-harness style. Exact match: the
    /// greedy response, up to the end-of-text token or the first newline, must equal the true answer sentence
    /// (surrounding white space ignored). Tiers split the items by the rank of the notable asked about, at
    /// <paramref name="tierBounds"/> (last ranks of each tier but the open-ended last). Without
    /// <paramref name="exactMatch"/> no answer is generated (and <see cref="KnowledgeScore.ExactMatch"/> is NaN).
    /// </summary>
    public static KnowledgeScore Knowledge(LlamaModel model, ITokenizer tokenizer, IReadOnlyList<KnowledgeItem> items, int batchSize = 8,
        IReadOnlyList<int>? tierBounds = null, IProgressReporter? progress = null, bool exactMatch = true)
    {
        var sequences = new List<(int[], int)>();
        var prompts = new List<int[]>();
        foreach (var item in items)
        {
            var context = tokenizer.Encode(ChatTemplate.Prompt(item.Question), addBos: true);
            prompts.Add(context);
            foreach (var choice in item.Choices)
                sequences.Add(([.. context, .. tokenizer.Encode(choice, addBos: false)], context.Length));
        }
        var nll = NextTokenScorer.ScoreEach(model, sequences, batchSize, progress, "knowledge");

        var stop = new HashSet<int>(model.Config.EosTokenIds) { tokenizer.EosId };
        var newline = tokenizer.Encode("\n", addBos: false);
        if (newline.Length == 1) stop.Add(newline[0]);
        var right = new bool[items.Count];
        var exact = new bool[items.Count];
        int rightNorm = 0, at = 0;
        using (var task = (progress ?? LineProgress.None).Start("knowledge answers", items.Count))
            for (int i = 0; i < items.Count; i++)
            {
                var item = items[i];
                int best = 0, bestNorm = 0;
                double Norm(int c) => -nll[at + c].Nll / System.Text.Encoding.UTF8.GetByteCount(item.Choices[c]);
                for (int c = 1; c < item.Choices.Count; c++)
                {
                    if (-nll[at + c].Nll > -nll[at + best].Nll) best = c;
                    if (Norm(c) > Norm(bestNorm)) bestNorm = c;
                }
                right[i] = best == item.Label;
                if (bestNorm == item.Label) rightNorm++;
                at += item.Choices.Count;
                if (!exactMatch) continue;

                int budget = tokenizer.Encode(item.Answer, addBos: false).Length + 8;
                var ids = Generator.Generate(model, prompts[i], budget, SamplingOptions.Greedy, stop)
                    .Select(g => g.Id).TakeWhile(id => !stop.Contains(id)).ToList();
                exact[i] = tokenizer.Decode(ids).Trim() == item.Answer.Trim();
                task.Update(i + 1, $"{exact.Count(x => x)}/{i + 1} exact");
            }

        double n = Math.Max(1, items.Count);
        return new KnowledgeScore(items.Count, right.Count(x => x) / n, rightNorm / n, exactMatch ? exact.Count(x => x) / n : double.NaN,
            Tiers(items, right, exactMatch ? exact : null, tierBounds));
    }

    /// <summary>
    /// What a model knows before any fine-tuning: each answer sentence of a knowledge item is scored as plain text
    /// ("Zelda Blackwood was born in Veyra.", the way the corpus states facts), and the item is right when the true
    /// sentence is the most likely. No template, so a pre-trained model is probed in its own format; the sentences
    /// share their prefix, so what is compared is the value. Accuracy overall and by tier (as <see cref="Knowledge"/>).
    /// </summary>
    public static (double Accuracy, IReadOnlyList<KnowledgeTier> Tiers) KnowledgeProbe(LlamaModel model, ITokenizer tokenizer,
        IReadOnlyList<KnowledgeItem> items, int batchSize = 8, IReadOnlyList<int>? tierBounds = null)
    {
        var sequences = items.SelectMany(item => item.Choices.Select(c => (tokenizer.Encode(c, addBos: true), 1))).ToList();
        var nll = NextTokenScorer.ScoreEach(model, sequences, batchSize);
        var right = new bool[items.Count];
        for (int i = 0, at = 0; i < items.Count; at += items[i].Choices.Count, i++)
        {
            int best = 0;
            for (int c = 1; c < items[i].Choices.Count; c++)
                if (nll[at + c].Nll < nll[at + best].Nll) best = c;
            right[i] = best == items[i].Label;
        }
        return (right.Count(x => x) / (double)Math.Max(1, items.Count), Tiers(items, right, null, tierBounds));
    }

    /// <summary>Accuracy (and exact match, NaN where no answer was generated) of each popularity tier.</summary>
    private static List<KnowledgeTier> Tiers(IReadOnlyList<KnowledgeItem> items, bool[] right, bool[]? exact, IReadOnlyList<int>? tierBounds)
    {
        var bounds = tierBounds ?? Notables.TierBounds;
        var tiers = new List<KnowledgeTier>();
        for (int t = 0, first = 1; t <= bounds.Count; t++)
        {
            int last = t < bounds.Count ? bounds[t] : int.MaxValue;
            var idx = Enumerable.Range(0, items.Count).Where(i => items[i].Rank >= first && items[i].Rank <= last).ToList();
            if (idx.Count > 0)
                tiers.Add(new KnowledgeTier(first, last, idx.Count, idx.Count(i => right[i]) / (double)idx.Count,
                    exact is null ? double.NaN : idx.Count(i => exact[i]) / (double)idx.Count));
            first = last == int.MaxValue ? last : last + 1;
        }
        return tiers;
    }

    /// <summary>
    /// Greedy answers to math questions through the chat template, preceded by <paramref name="shots"/> solved
    /// examples, scored by strict match of the "#### n" that follows (GSM8K's rule, <see cref="Gsm8kAnswer"/>).
    /// </summary>
    public static MathScore MathProblems(LlamaModel model, ITokenizer tokenizer, IReadOnlyList<Gsm8kItem> items,
        IReadOnlyList<Gsm8kItem>? shots = null, int maxNewTokens = 256, int keepSamples = 5, IProgressReporter? progress = null)
    {
        string prefix = string.Concat((shots ?? []).Select(s => ChatTemplate.Prompt(s.Question) + s.Answer + "\n\n"));
        var stop = new HashSet<int>(model.Config.EosTokenIds) { tokenizer.EosId };
        int right = 0, done = 0;
        var samples = new List<(string, string, bool)>();
        using var task = (progress ?? LineProgress.None).Start("math", items.Count);
        foreach (var item in items)
        {
            var prompt = tokenizer.Encode(prefix + ChatTemplate.Prompt(item.Question), addBos: true);
            var ids = Generator.Generate(model, prompt, maxNewTokens, SamplingOptions.Greedy, stop)
                .Select(g => g.Id).TakeWhile(id => !stop.Contains(id)).ToList();
            var text = tokenizer.Decode(ids);
            bool correct = Gsm8kAnswer.Extract(text) == item.FinalAnswer;
            if (correct) right++;
            if (samples.Count < keepSamples) samples.Add((item.Question, text, correct));
            done++;
            task.Update(done, $"{right}/{done} right");
        }
        return new MathScore(items.Count, items.Count == 0 ? 0 : (double)right / items.Count, samples);
    }
}
