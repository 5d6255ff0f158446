using LoRAM.Data;

namespace LoRAM.Tests.Data;

public sealed class LoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-data-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string FileWith(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static void FailsNaming(string path, int line, string what, Action load)
    {
        var e = Assert.Throws<UserInputException>(load);
        Assert.StartsWith($"{path}:{line}: ", e.Message);
        Assert.Contains(what, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Plain_text_splits_on_blank_lines_or_else_one_document_per_line()
    {
        var paragraphs = FileWith("p.txt", "First doc line one.\nline two.\n\n\n  \nSecond doc.\n");
        Assert.Equal(["First doc line one.\nline two.", "Second doc."], PlainTextCorpus.Load(paragraphs));
        var lines = FileWith("l.txt", "one\ntwo\nthree\n");
        Assert.Equal(["one", "two", "three"], PlainTextCorpus.Load(lines));
        Assert.Equal(["First doc line one.", "line two.", "Second doc."], PlainTextCorpus.Load(paragraphs, PlainTextLayout.Lines));
    }

    [Fact]
    public void Plain_text_round_trips_the_corpus_writer_and_names_bad_files()
    {
        var docs = new CorpusGenerator(World.Generate(2), 2).Documents(20_000).ToList();
        var path = Path.Combine(_dir, "corpus.txt");
        long chars = PlainTextCorpus.Write(path, docs);
        Assert.Equal(new FileInfo(path).Length, chars);
        Assert.Equal(docs, PlainTextCorpus.Load(path));

        var empty = FileWith("empty.txt", "\n \n");
        Assert.Contains(empty, Assert.Throws<UserInputException>(() => PlainTextCorpus.Load(empty)).Message);
        var missing = Path.Combine(_dir, "nope.txt");
        Assert.Equal($"{missing}: file not found", Assert.Throws<UserInputException>(() => PlainTextCorpus.Load(missing)).Message);
        var binary = Path.Combine(_dir, "bin.txt");
        File.WriteAllBytes(binary, [(byte)'o', (byte)'k', (byte)'\n', 0xC3, 0x28, (byte)'\n']);
        FailsNaming(binary, 2, "UTF-8", () => PlainTextCorpus.Load(binary));
    }

    [Fact]
    public void Alpaca_loads_with_optional_input_and_round_trips()
    {
        var path = FileWith("a.jsonl", "{\"instruction\":\"Say hi.\",\"output\":\"Hi!\"}\n\n{\"instruction\":\"Echo\",\"input\":\"x \\\"q\\\"\",\"output\":\"x \\\"q\\\"\",\"extra\":1}\n");
        Assert.Equal([new("Say hi.", "", "Hi!"), new("Echo", "x \"q\"", "x \"q\"")], AlpacaFile.Load(path));
        var records = new InstructionGenerator(World.Generate(3), 3).Generate(200).ToList();
        var written = Path.Combine(_dir, "w.jsonl");
        AlpacaFile.Write(written, records);
        Assert.Equal(records, AlpacaFile.Load(written));
        Assert.DoesNotContain("\\u0027", File.ReadAllText(written)); // apostrophes stay readable
    }

    [Fact]
    public void Alpaca_errors_name_the_file_and_line()
    {
        var bad = FileWith("bad.jsonl", "{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"a\",\"output\":\nnot json\n");
        FailsNaming(bad, 2, "not valid JSON", () => AlpacaFile.Load(bad));
        var noOutput = FileWith("no-output.jsonl", "\n{\"instruction\":\"a\"}\n");
        FailsNaming(noOutput, 2, "missing field \"output\"", () => AlpacaFile.Load(noOutput));
        var wrongType = FileWith("type.jsonl", "{\"instruction\":\"a\",\"input\":3,\"output\":\"b\"}\n");
        FailsNaming(wrongType, 1, "\"input\" must be a string, found a number", () => AlpacaFile.Load(wrongType));
        var array = FileWith("array.jsonl", "[1,2]\n");
        FailsNaming(array, 1, "expected a JSON object, found an array", () => AlpacaFile.Load(array));
    }

    [Fact]
    public void ShareGpt_turns_each_gpt_reply_into_an_instruction_with_the_earlier_conversation_as_input()
    {
        var path = FileWith("s.jsonl",
            "{\"conversations\":[{\"from\":\"system\",\"value\":\"Be brief.\"},{\"from\":\"human\",\"value\":\"Hi\"},{\"from\":\"gpt\",\"value\":\"Hello.\"}," +
            "{\"from\":\"human\",\"value\":\"2+2?\"},{\"from\":\"gpt\",\"value\":\"4\"}]}\n" +
            "{\"conversations\":[{\"from\":\"human\",\"value\":\"Name a color.\"},{\"from\":\"gpt\",\"value\":\"Red.\"}]}\n");
        Assert.Equal(
        [
            new("Hi", "System: Be brief.", "Hello."),
            new("2+2?", "System: Be brief.\nHuman: Hi\nAssistant: Hello.", "4"),
            new("Name a color.", "", "Red."),
        ], ShareGptFile.Load(path));
    }

    [Fact]
    public void ShareGpt_errors_name_the_file_and_line()
    {
        var noConv = FileWith("a.jsonl", "{\"conversations\":[{\"from\":\"human\",\"value\":\"a\"},{\"from\":\"gpt\",\"value\":\"b\"}]}\n{\"messages\":[]}\n");
        FailsNaming(noConv, 2, "missing field \"conversations\"", () => ShareGptFile.Load(noConv));
        var badRole = FileWith("b.jsonl", "{\"conversations\":[{\"from\":\"robot\",\"value\":\"a\"}]}\n");
        FailsNaming(badRole, 1, "unknown \"from\": \"robot\"", () => ShareGptFile.Load(badRole));
        var orphan = FileWith("c.jsonl", "{\"conversations\":[{\"from\":\"gpt\",\"value\":\"a\"}]}\n");
        FailsNaming(orphan, 1, "no \"human\" turn before it", () => ShareGptFile.Load(orphan));
        var noReply = FileWith("d.jsonl", "{\"conversations\":[{\"from\":\"human\",\"value\":\"a\"}]}\n");
        FailsNaming(noReply, 1, "no \"gpt\" turn", () => ShareGptFile.Load(noReply));
    }

    [Fact]
    public void Gsm8k_loads_and_rejects_answers_without_a_final_number()
    {
        var path = FileWith("g.jsonl", "{\"question\":\"1+1?\",\"answer\":\"1 + 1 = 2\\n#### 2\"}\n{\"question\":\"big\",\"answer\":\"#### 1,234\"}\n");
        var items = Gsm8kFile.Load(path);
        Assert.Equal([2m, 1234m], items.Select(i => i.FinalAnswer));
        var bad = FileWith("gb.jsonl", "{\"question\":\"1+1?\",\"answer\":\"#### 2\"}\n{\"question\":\"q\",\"answer\":\"it is 2\"}\n");
        FailsNaming(bad, 2, "no final \"#### number\"", () => Gsm8kFile.Load(bad));
        var noQ = FileWith("gq.jsonl", "{\"answer\":\"#### 2\"}\n");
        FailsNaming(noQ, 1, "missing field \"question\"", () => Gsm8kFile.Load(noQ));
    }

    [Fact]
    public void Multiple_choice_loads_round_trips_and_checks_the_label()
    {
        var eval = EvaluationSets.Generate(World.Generate(4), 4, 30);
        var path = Path.Combine(_dir, "mc.jsonl");
        MultipleChoiceFile.Write(path, eval.MultipleChoice);
        var back = MultipleChoiceFile.Load(path);
        Assert.Equal(eval.MultipleChoice.Select(x => (x.Question, string.Join("|", x.Choices), x.Label)),
                     back.Select(x => (x.Question, string.Join("|", x.Choices), x.Label)));

        var outOfRange = FileWith("m1.jsonl", "{\"question\":\"q\",\"choices\":[\"a\",\"b\"],\"label\":2}\n");
        FailsNaming(outOfRange, 1, "\"label\" 2 is outside 0..1", () => MultipleChoiceFile.Load(outOfRange));
        var noChoices = FileWith("m2.jsonl", "{\"question\":\"q\",\"choices\":[\"a\",\"b\"],\"label\":0}\n{\"question\":\"q\",\"label\":0}\n");
        FailsNaming(noChoices, 2, "missing array field \"choices\"", () => MultipleChoiceFile.Load(noChoices));
        var textLabel = FileWith("m3.jsonl", "{\"question\":\"q\",\"choices\":[\"a\",\"b\"],\"label\":\"A\"}\n");
        FailsNaming(textLabel, 1, "missing integer field \"label\"", () => MultipleChoiceFile.Load(textLabel));
        var math = Path.Combine(_dir, "math.jsonl");
        Gsm8kFile.Write(math, eval.Math);
        Assert.Equal(eval.Math, Gsm8kFile.Load(math));
    }
}
