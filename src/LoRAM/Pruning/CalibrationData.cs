using LoRAM.Data;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Pruning;

/// <summary>
/// Calibration samples for the pruners: N windows of L + 1 tokens drawn uniformly (seeded) from the token stream
/// of a text — every document as BOS + tokens + EOS, concatenated — as SparseGPT draws random C4 windows. The
/// text is a plain-text file (corpus.txt format) or, by default, the embedded general corpus of the seed.
/// </summary>
public static class CalibrationData
{
    /// <summary>The samples and a description of their source for the pruning record.</summary>
    public static (int[][] Samples, string Source) Load(string? file, ITokenizer tokenizer, int samples, int length, int seed)
    {
        if (samples <= 0) throw new UserInputException($"--samples must be 1 or more, got {samples}");
        if (length <= 0) throw new UserInputException($"--seq-len must be 1 or more, got {length}");
        IEnumerable<string> documents;
        string source;
        if (file is not null)
        {
            if (!File.Exists(file)) throw new UserInputException($"{file}: calibration file not found");
            documents = PlainTextCorpus.Load(file);
            source = Path.GetFullPath(file);
        }
        else if (tokenizer is not ByteTokenizer)
            // The embedded corpus is synthetic text written for the shipped byte-level family; any other model would be
            // calibrated on text unlike anything it saw, and silently so.
            throw new UserInputException("--calib is required: the model's tokenizer is not the shipped byte tokenizer (loram_tokenizer.json), so the embedded synthetic corpus is no calibration text for it; pass --calib FILE with plain text in its language");
        else
        {
            // Enough text for the windows even at ~4 characters a token, plus variety.
            long chars = Math.Max(200_000, 8L * samples * (length + 1));
            documents = new CorpusGenerator(World.Generate(seed), seed).Documents(chars);
            source = $"embedded corpus (seed {seed})";
        }
        return (Sample(Stream(documents, tokenizer), samples, length, seed, source), source);
    }

    /// <summary>The concatenated token stream of <paramref name="documents"/>.</summary>
    public static int[] Stream(IEnumerable<string> documents, ITokenizer tokenizer)
    {
        var stream = new List<int>();
        foreach (var doc in documents)
        {
            stream.AddRange(tokenizer.Encode(doc, addBos: true));
            stream.Add(tokenizer.EosId);
        }
        return stream.ToArray();
    }

    /// <summary><paramref name="samples"/> windows of <paramref name="length"/> + 1 tokens at seeded uniform offsets.</summary>
    public static int[][] Sample(int[] stream, int samples, int length, int seed, string source = "calibration text")
    {
        if (stream.Length < length + 1)
            throw new UserInputException($"{source}: has {stream.Length} tokens, a calibration sample needs {length + 1}");
        var rng = Rng.For(seed, "calibration");
        var result = new int[samples][];
        for (int i = 0; i < samples; i++)
        {
            int start = rng.Next(stream.Length - length);
            result[i] = stream[start..(start + length + 1)];
        }
        return result;
    }
}
