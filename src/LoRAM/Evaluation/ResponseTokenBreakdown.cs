using System.Text.Json.Serialization;
using LoRAM.Data;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Progress;

namespace LoRAM.Evaluation;

/// <summary>
/// What a response token is, decided from the data alone (no model): where response perplexity sits. In order of
/// precedence: the end-of-turn token; the first k tokens of the response; a token of spaces and punctuation only; a
/// token of a word the instruction or input also holds; of a word frequent among the set's responses (the answer
/// templates' words: "was", "born", "years"); of any other word (the new content: a fact, a number, a name).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ResponseTokenCategory>))]
public enum ResponseTokenCategory { Opening, End, Separator, Copied, Frequent, Content }

/// <summary>One category's share of a response-perplexity set: its tokens, their summed NLL, and their perplexity.</summary>
public sealed record CategoryScore(ResponseTokenCategory Category, long Tokens, double NllSum, double Perplexity)
{
    /// <summary>This category's share of the set's summed NLL: how much of log-perplexity × tokens it carries.</summary>
    public double ShareOfNll(double totalNll) => totalNll == 0 ? 0 : NllSum / totalNll;
}

/// <summary>
/// Response-only perplexity (<see cref="Benchmarks.InstructionPerplexity"/>) split by <see cref="ResponseTokenCategory"/>:
/// the categories' tokens and summed NLL add up to the set's. A word is a maximal run of letters and digits; a token
/// belongs to the first word its text touches (a SentencePiece "▁Otto" to "Otto"), and a token of no word is a separator.
/// </summary>
public static class ResponseTokenBreakdown
{
    /// <summary>Default k of <see cref="ResponseTokenCategory.Opening"/>.</summary>
    public const int DefaultOpeningTokens = 1;
    /// <summary>Default share of the set's responses a word must occur in to be <see cref="ResponseTokenCategory.Frequent"/>.</summary>
    public const double DefaultFrequentShare = 0.05;

    public static IReadOnlyList<CategoryScore> Score(LlamaModel model, ITokenizer tokenizer, IReadOnlyList<InstructionRecord> records,
        int maxLength = 512, int batchSize = 8, int openingTokens = DefaultOpeningTokens, double frequentShare = DefaultFrequentShare,
        IProgressReporter? progress = null)
    {
        var examples = records.Select(r => InstructionTokens.Encode(tokenizer, r.ToExample(), maxLength)).ToList();
        var nll = NextTokenScorer.ScoreTokens(model, examples.Select(e => (e.Ids, e.ResponseStart)).ToList(), batchSize, progress, "perplexity by token category");
        var frequent = FrequentWords(records.Select(r => r.Output), frequentShare);
        var tokens = new long[Enum.GetValues<ResponseTokenCategory>().Length];
        var sums = new double[tokens.Length];
        for (int i = 0; i < records.Count; i++)
        {
            var e = examples[i];
            int first = Math.Max(1, e.ResponseStart);   // as the scorer: position 0 has no prediction
            var categories = Categorize(tokenizer, records[i], e.Ids[e.ResponseStart..], frequent, openingTokens);
            for (int j = 0; j < nll[i].Length; j++)
            {
                var c = (int)categories[first + j - e.ResponseStart];
                tokens[c]++;
                sums[c] += nll[i][j];
            }
        }
        return [.. Enum.GetValues<ResponseTokenCategory>().Select(c => new CategoryScore(c, tokens[(int)c], sums[(int)c],
            tokens[(int)c] == 0 ? double.NaN : Math.Exp(sums[(int)c] / tokens[(int)c])))];
    }

    /// <summary>The words that occur in at least <paramref name="share"/> of <paramref name="responses"/> (each counted once a response).</summary>
    public static HashSet<string> FrequentWords(IEnumerable<string> responses, double share)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        int n = 0;
        foreach (var response in responses)
        {
            n++;
            foreach (var w in Words(response).Select(w => w.Text).Distinct()) counts[w] = counts.GetValueOrDefault(w) + 1;
        }
        return [.. counts.Where(kv => kv.Value >= share * n).Select(kv => kv.Key)];
    }

    /// <summary>The category of each token of <paramref name="response"/> (the response's ids as scored, EOS included).</summary>
    public static ResponseTokenCategory[] Categorize(ITokenizer tokenizer, InstructionRecord record, int[] response, ISet<string> frequent, int openingTokens)
    {
        var prompt = new HashSet<string>(Words(record.Instruction + "\n" + record.Input).Select(w => w.Text), StringComparer.Ordinal);
        string text = tokenizer.Decode(response);
        // The word that covers each character of the decoded response (null: a space or punctuation).
        var wordAt = new string?[text.Length];
        foreach (var (start, word) in Words(text)) for (int k = 0; k < word.Length; k++) wordAt[start + k] = word;
        var result = new ResponseTokenCategory[response.Length];
        int from = 0;
        for (int j = 0; j < response.Length; j++)
        {
            // Token j covers the characters [from, to) of the text: the decoded prefixes' lengths (exact for any tokenizer).
            int to = Math.Clamp(tokenizer.Decode(response[..(j + 1)]).Length, from, text.Length);
            string? word = null;
            for (int k = from; k < to && word is null; k++) word = wordAt[k];
            result[j] = j == response.Length - 1 && response[j] == tokenizer.EosId ? ResponseTokenCategory.End
                : j < openingTokens ? ResponseTokenCategory.Opening
                : word is null ? ResponseTokenCategory.Separator
                : prompt.Contains(word) ? ResponseTokenCategory.Copied
                : frequent.Contains(word) ? ResponseTokenCategory.Frequent
                : ResponseTokenCategory.Content;
            from = to;
        }
        return result;
    }

    /// <summary>Maximal runs of letters and digits, with where each starts.</summary>
    private static IEnumerable<(int Start, string Text)> Words(string text)
    {
        for (int i = 0; i < text.Length;)
        {
            if (!char.IsLetterOrDigit(text[i])) { i++; continue; }
            int start = i;
            while (i < text.Length && char.IsLetterOrDigit(text[i])) i++;
            yield return (start, text[start..i]);
        }
    }
}
