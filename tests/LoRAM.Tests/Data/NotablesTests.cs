using System.Text.RegularExpressions;
using LoRAM.Data;

namespace LoRAM.Tests.Data;

/// <summary>The notables: the world knowledge that only pre-training teaches and only held-out questions test.</summary>
public sealed class NotablesTests
{
    private static readonly World World1 = World.Generate(1);

    [Fact]
    public void Notables_are_the_same_for_a_seed_distinct_by_name_and_ranked()
    {
        var a = Notables.Generate(1); var b = Notables.Generate(1); var c = Notables.Generate(2);
        Assert.Equal(a, b);
        Assert.NotEqual(a.Select(n => n.Name), c.Select(n => n.Name));
        Assert.Equal(Notables.Count, a.Count);
        Assert.Equal(a.Count, a.Select(n => n.Name).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, a.Count), a.Select(n => n.Rank));
        Assert.Equal(a.Count / 2, a.Count(n => n.IsHeldOut));
        // Adding notables left the world's people as they were (their own random stream).
        Assert.DoesNotContain(a, n => World1.People.Any(p => p.Name == n.Name));
    }

    [Fact]
    public void No_instruction_asks_about_a_held_out_notable_and_every_knowledge_question_does()
    {
        var heldOut = World1.Notables.Where(n => n.IsHeldOut).Select(n => n.Name).ToHashSet();
        var training = World1.Notables.Where(n => !n.IsHeldOut).Select(n => n.Name).ToHashSet();
        int asked = 0;
        foreach (var r in new InstructionGenerator(World1, 1).Generate(5_000))
        {
            string text = r.Instruction + " " + r.Input + " " + r.Output;
            Assert.DoesNotContain(heldOut, name => text.Contains(name));
            if (training.Any(text.Contains)) asked++;
        }
        Assert.InRange(asked, 400, 900);   // one family of eight: 5,000 / 8 = 625 expected

        var items = EvaluationSets.Generate(World1, 1, 200).Knowledge;
        Assert.Equal(200, items.Count);
        var byName = World1.Notables.ToDictionary(n => n.Name);
        foreach (var item in items)
        {
            var n = byName[Regex.Match(item.Question, @"([A-Z][a-z]+ [A-Z][a-z]+)").Groups[1].Value];
            Assert.True(n.IsHeldOut);
            Assert.Equal(n.Rank, item.Rank);
            var attribute = Notables.Attributes.Single(a => a.Key == item.Attribute);
            Assert.Equal(attribute.Answer(n, attribute.Of(n)), item.Answer);          // the label is the true fact
            Assert.Equal(4, item.Choices.Distinct().Count());
        }
        // Log-uniform over popularity: the three tiers in equal parts in any prefix (here 67/67/66 of 200).
        Assert.Equal([67, 67, 66], new[] { items.Count(i => i.Rank <= 50), items.Count(i => i.Rank is > 50 and <= 200), items.Count(i => i.Rank > 200) });
        Assert.Equal(Notables.Count / 2 * 4, Notables.HeldOutQuestions(World1.Notables, 1).Count());   // all of them, once
    }

    [Fact]
    public void The_corpus_writes_about_each_notable_as_often_as_its_popularity_says()
    {
        var docs = new CorpusGenerator(World1, 1).Documents(3_000_000).ToList();
        var sampler = new Notables.PopularitySampler(World1.Notables);
        // Documents headed by one notable ("Profile X", "News: X") count that notable once.
        var heads = new Dictionary<string, int>();
        foreach (var d in docs)
        {
            var m = Regex.Match(d, @"^(?:Profile|A profile of|About|News|In the news|Today's people):? ([A-Z][a-z]+ [A-Z][a-z]+)\n");
            if (m.Success) heads[m.Groups[1].Value] = heads.GetValueOrDefault(m.Groups[1].Value) + 1;
        }
        int total = heads.Values.Sum();
        foreach (int rank in new[] { 1, 2, 10 })
        {
            var n = World1.Notables[rank - 1];
            double expected = sampler.Share(rank) * total, observed = heads.GetValueOrDefault(n.Name);
            Assert.InRange(observed, expected - 4 * Math.Sqrt(expected), expected + 4 * Math.Sqrt(expected));   // binomial, 4 sigma
        }
        // (k + 5)^-1: rank 1 is written about 17.5 times as often as rank 100.
        Assert.Equal(105.0 / 6.0, sampler.Share(1) / sampler.Share(100), 9);
        Assert.InRange(docs.Count(d => heads.Count > 0 && Regex.IsMatch(d, @"^(Profile|A profile|About|News|In the news|Today's people|Two lives|Side by side|Notes on two)")) / (double)docs.Count, 0.40, 0.50);
    }

    [Fact]
    public void Knowledge_file_round_trips_and_names_a_bad_record()
    {
        var dir = Directory.CreateTempSubdirectory("loram-knowledge").FullName;
        try
        {
            var path = Path.Combine(dir, "knowledge.jsonl");
            var items = EvaluationSets.Generate(World1, 1, 20).Knowledge;
            KnowledgeFile.Write(path, items);
            var back = KnowledgeFile.Load(path);
            Assert.Equal(items.Select(i => (i.Question, string.Join("|", i.Choices), i.Label, i.Rank, i.Attribute)),
                back.Select(i => (i.Question, string.Join("|", i.Choices), i.Label, i.Rank, i.Attribute)));

            File.WriteAllText(path, """{"question":"q","choices":["a","b"],"label":0,"rank":0}""" + "\n");
            var e = Assert.Throws<UserInputException>(() => KnowledgeFile.Load(path));
            Assert.Equal($"{path}:1: \"rank\" must be a positive integer", e.Message);
            File.WriteAllText(path, """{"question":"q","choices":["a","b"],"label":2}""" + "\n");
            e = Assert.Throws<UserInputException>(() => KnowledgeFile.Load(path));
            Assert.Equal($"{path}:1: \"label\" 2 is outside 0..1", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
