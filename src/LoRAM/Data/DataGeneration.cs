using System.Diagnostics;

namespace LoRAM.Data;

/// <summary>What <c>loram data</c> is told: where to write, the seed, and how much of each set.</summary>
public sealed record DataOptions
{
    public required string Out { get; init; }
    /// <summary>Seed of the world and of every generator.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Size of corpus.txt in characters (= tokens for a byte-level model).</summary>
    public long CorpusChars { get; init; } = 2_000_000;
    /// <summary>corpus.txt begins after the documents the first K characters of the seed's stream hold (0: from the
    /// start), so that it is text a model pre-trained on a corpus of K characters of the same seed has not seen.</summary>
    public long CorpusSkipChars { get; init; }
    /// <summary>Number of training instructions.</summary>
    public int Instructions { get; init; } = 20_000;
    /// <summary>Items per evaluation set (at most).</summary>
    public int EvalSize { get; init; } = 200;

    /// <summary>Checks every setting before any work; throws <see cref="UserInputException"/> naming the flag.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Out)) throw new UserInputException("--out must name a folder");
        if (CorpusChars < 0) throw new UserInputException($"--corpus-chars must be 0 or more, got {CorpusChars}");
        if (CorpusChars > int.MaxValue) throw new UserInputException($"--corpus-chars must be at most {int.MaxValue}, got {CorpusChars}");
        if (CorpusSkipChars < 0) throw new UserInputException($"--corpus-skip-chars must be 0 or more, got {CorpusSkipChars}");
        if (Instructions < 0) throw new UserInputException($"--instructions must be 0 or more, got {Instructions}");
        if (EvalSize < 1) throw new UserInputException($"--eval-size must be 1 or more, got {EvalSize}");
    }
}

/// <summary>What <see cref="DataGeneration.Run"/> wrote.</summary>
public sealed record DataReport(string Directory, int Seed, int People, int Places, int CorpusDocuments, long CorpusChars,
    int Instructions, int PplIn, int PplOut, int MultipleChoice, int Math, int Knowledge, double Seconds);

/// <summary>
/// The embedded default's data of a seed — corpus.txt, instructions.jsonl and the four evaluation sets — written into
/// a folder, each file atomically. See src/LoRAM/Data/README.md for the formats.
/// </summary>
public static class DataGeneration
{
    public const string Corpus = "corpus.txt", Instructions = "instructions.jsonl", PplIn = "ppl-in.jsonl", PplOut = "ppl-out.jsonl",
        MultipleChoice = "mc.jsonl", Math = "math.jsonl", Knowledge = "knowledge.jsonl";

    public static readonly IReadOnlyList<string> FileNames = [Corpus, Instructions, PplIn, PplOut, MultipleChoice, Math, Knowledge];

    public static DataReport Run(DataOptions o)
    {
        o.Validate();
        string dir = o.Out;
        if (File.Exists(dir)) throw new UserInputException($"{dir}: is a file, --out needs a folder");
        using var outputLock = OutputLock.Inside(dir);   // writable, and ours alone, before the world is generated

        var clock = Stopwatch.StartNew();
        var world = World.Generate(o.Seed);
        try
        {
            int docs = 0;
            long chars = PlainTextCorpus.Write(Path.Combine(dir, Corpus),
                CorpusPrefix.Within(CorpusPrefix.After(new CorpusGenerator(world, o.Seed).Documents(), o.CorpusSkipChars), o.CorpusChars).Select(d => { docs++; return d; }));
            AlpacaFile.Write(Path.Combine(dir, Instructions), new InstructionGenerator(world, o.Seed).Generate(o.Instructions));
            var eval = EvaluationSets.Generate(world, o.Seed, o.EvalSize);
            AlpacaFile.Write(Path.Combine(dir, PplIn), eval.InDomain);
            AlpacaFile.Write(Path.Combine(dir, PplOut), eval.OutOfDomain);
            MultipleChoiceFile.Write(Path.Combine(dir, MultipleChoice), eval.MultipleChoice);
            Gsm8kFile.Write(Path.Combine(dir, Math), eval.Math);
            KnowledgeFile.Write(Path.Combine(dir, Knowledge), eval.Knowledge);
            return new DataReport(Path.GetFullPath(dir), o.Seed, world.People.Count, world.Places.Count, docs, chars, o.Instructions,
                eval.InDomain.Count, eval.OutOfDomain.Count, eval.MultipleChoice.Count, eval.Math.Count, eval.Knowledge.Count, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{dir}: cannot write the data files ({e.Message})", e);
        }
    }
}
