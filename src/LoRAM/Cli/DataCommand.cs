using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using LoRAM.Data;

namespace LoRAM.Cli;

/// <summary><c>loram data</c>: writes the embedded default data of a seed — corpus.txt, instructions.jsonl and the
/// four evaluation sets — into a folder, each file atomically. See src/LoRAM/Data/README.md for the formats.</summary>
internal static class DataCommand
{
    public static readonly IReadOnlyList<string> FileNames =
        ["corpus.txt", "instructions.jsonl", "ppl-in.jsonl", "ppl-out.jsonl", "mc.jsonl", "math.jsonl"];

    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "Folder to write the data files into (created if missing).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the world and of every generator.", DefaultValueFactory = _ => 1 };
        var corpusChars = new Option<long>("--corpus-chars") { Description = "Size of corpus.txt in characters (= tokens for a byte-level model).", DefaultValueFactory = _ => 2_000_000 };
        var instructions = new Option<int>("--instructions") { Description = "Number of training instructions.", DefaultValueFactory = _ => 20_000 };
        var evalSize = new Option<int>("--eval-size") { Description = "Items per evaluation set (at most).", DefaultValueFactory = _ => 200 };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON." };

        var command = new Command("data", "Generate the embedded default data: a pre-training corpus, an instruction set, and evaluation sets.")
        {
            outDir, seed, corpusChars, instructions, evalSize, json,
        };
        command.SetAction(parse =>
        {
            var summary = Write(parse.GetValue(outDir)!, parse.GetValue(seed), parse.GetValue(corpusChars),
                parse.GetValue(instructions), parse.GetValue(evalSize));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
                output.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
            else
            {
                output.WriteLine($"wrote {summary.Directory} (seed {summary.Seed}, world of {summary.People} people and {summary.Places} places) in {summary.Seconds:F1} s");
                output.WriteLine($"  corpus.txt          {summary.CorpusDocuments,7} documents, {summary.CorpusChars} characters");
                output.WriteLine($"  instructions.jsonl  {summary.Instructions,7} instructions ({string.Join(", ", InstructionGenerator.Families)})");
                output.WriteLine($"  ppl-in.jsonl        {summary.PplIn,7} held-out instructions of the training families");
                output.WriteLine($"  ppl-out.jsonl       {summary.PplOut,7} instructions of unseen families ({string.Join(", ", EvaluationSets.OutOfDomainFamilies)})");
                output.WriteLine($"  mc.jsonl            {summary.MultipleChoice,7} four-way questions about the world");
                output.WriteLine($"  math.jsonl          {summary.Math,7} held-out word problems (#### n)");
            }
            return 0;
        });
        return command;
    }

    /// <summary>What <c>loram data</c> wrote, for the summary and <c>--json</c>.</summary>
    internal sealed record Summary(string Directory, int Seed, int People, int Places, int CorpusDocuments, long CorpusChars,
        int Instructions, int PplIn, int PplOut, int MultipleChoice, int Math, double Seconds);

    internal static Summary Write(string dir, int seed, long corpusChars, int instructions, int evalSize)
    {
        if (corpusChars < 0) throw new UserInputException($"--corpus-chars must be 0 or more, got {corpusChars}");
        if (instructions < 0) throw new UserInputException($"--instructions must be 0 or more, got {instructions}");
        if (evalSize < 1) throw new UserInputException($"--eval-size must be 1 or more, got {evalSize}");
        if (File.Exists(dir)) throw new UserInputException($"{dir}: is a file, --out needs a folder");
        OutputFolder.EnsureWritable(dir);   // before the world is generated, not after

        var clock = Stopwatch.StartNew();
        var world = World.Generate(seed);
        try
        {
            int docs = 0;
            long chars = PlainTextCorpus.Write(Path.Combine(dir, "corpus.txt"),
                new CorpusGenerator(world, seed).Documents(corpusChars).Select(d => { docs++; return d; }));
            AlpacaFile.Write(Path.Combine(dir, "instructions.jsonl"), new InstructionGenerator(world, seed).Generate(instructions));
            var eval = EvaluationSets.Generate(world, seed, evalSize);
            AlpacaFile.Write(Path.Combine(dir, "ppl-in.jsonl"), eval.InDomain);
            AlpacaFile.Write(Path.Combine(dir, "ppl-out.jsonl"), eval.OutOfDomain);
            MultipleChoiceFile.Write(Path.Combine(dir, "mc.jsonl"), eval.MultipleChoice);
            Gsm8kFile.Write(Path.Combine(dir, "math.jsonl"), eval.Math);
            return new Summary(Path.GetFullPath(dir), seed, world.People.Count, world.Places.Count, docs, chars, instructions,
                eval.InDomain.Count, eval.OutOfDomain.Count, eval.MultipleChoice.Count, eval.Math.Count, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{dir}: cannot write the data files ({e.Message})", e);
        }
    }
}
