using System.CommandLine;
using LoRAM.Data;

namespace LoRAM.Cli;

/// <summary><c>loram data</c>: flags → <see cref="DataOptions"/> → <see cref="DataGeneration.Run"/> → a summary or JSON.</summary>
internal static class DataCommand
{
    public static Command Create()
    {
        var d = new DataOptions { Out = "" };
        var outDir = new Option<string>("--out") { Description = "Folder to write the data files into (created if missing).", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the world and of every generator.", DefaultValueFactory = _ => d.Seed };
        var corpusChars = new Option<long>("--corpus-chars") { Description = "Size of corpus.txt in characters (= tokens for a byte-level model).", DefaultValueFactory = _ => d.CorpusChars };
        var skip = new Option<long>("--corpus-skip-chars")
        {
            Description = "Start corpus.txt after the documents of the stream's first N characters: text a model pre-trained on --corpus-chars N of the same seed has not seen.",
            DefaultValueFactory = _ => d.CorpusSkipChars,
        };
        var instructions = new Option<int>("--instructions") { Description = "Number of training instructions.", DefaultValueFactory = _ => d.Instructions };
        var evalSize = new Option<int>("--eval-size") { Description = "Items per evaluation set (at most).", DefaultValueFactory = _ => d.EvalSize };
        var json = CommonOptions.Json("Print the summary as JSON.");

        var command = new Command("data", "Generate the embedded default data: a pre-training corpus, an instruction set, and evaluation sets.")
        {
            outDir, seed, corpusChars, skip, instructions, evalSize, json,
        };
        command.SetAction(parse =>
        {
            var summary = DataGeneration.Run(new DataOptions
            {
                Out = parse.GetValue(outDir)!, Seed = parse.GetValue(seed), CorpusChars = parse.GetValue(corpusChars), CorpusSkipChars = parse.GetValue(skip),
                Instructions = parse.GetValue(instructions), EvalSize = parse.GetValue(evalSize),
            });
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(ReportJson.Serialize(summary));
            else
            {
                output.WriteLine($"wrote {summary.Directory} (seed {summary.Seed}, world of {summary.People} people and {summary.Places} places) in {summary.Seconds:F1} s");
                output.WriteLine($"  corpus.txt          {summary.CorpusDocuments,7} documents, {summary.CorpusChars} characters" +
                    (parse.GetValue(skip) > 0 ? $" (after the first {parse.GetValue(skip)} characters of the stream)" : ""));
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
}
