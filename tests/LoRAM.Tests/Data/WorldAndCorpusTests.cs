using System.Text.RegularExpressions;
using LoRAM.Data;

namespace LoRAM.Tests.Data;

public class WorldAndCorpusTests
{
    private static readonly World World1 = World.Generate(1);

    private static List<string> Corpus(int seed, long chars) =>
        new CorpusGenerator(World.Generate(seed), seed).Documents(chars).ToList();

    [Fact]
    public void Same_seed_gives_the_same_world_and_corpus_and_another_seed_a_different_one()
    {
        var a = World.Generate(7); var b = World.Generate(7); var c = World.Generate(8);
        Assert.Equal(a.People.Select(Describe), b.People.Select(Describe));
        Assert.NotEqual(a.People.Select(Describe), c.People.Select(Describe));
        Assert.Equal(Corpus(7, 50_000), Corpus(7, 50_000));
        Assert.NotEqual(Corpus(7, 50_000), Corpus(8, 50_000));
    }

    [Fact]
    public void World_people_have_unique_first_names_and_symmetric_friendships()
    {
        Assert.Equal(World1.People.Count, World1.People.Select(p => p.First).Distinct().Count());
        foreach (var p in World1.People)
            foreach (var f in p.Friends) Assert.Contains(p, f.Friends);
        Assert.Equal(World1.Places.Count, World1.Places.Select(p => p.Name).Distinct().Count());
    }

    [Fact]
    public void Corpus_respects_the_character_budget_and_documents_have_no_blank_lines()
    {
        var docs = Corpus(1, 100_000);
        long total = docs.Sum(d => d.Length) + 2L * (docs.Count - 1);
        Assert.InRange(total, 95_000, 100_000); // stops at the first document that would not fit (docs are < 5000 chars)
        Assert.All(docs, d => Assert.DoesNotContain("\n\n", d));
        Assert.All(docs, d => Assert.All(d, ch => Assert.True(ch < 128, $"non-ASCII {ch}"))); // byte-level: 1 char = 1 token
    }

    [Fact]
    public void Corpus_is_varied_many_distinct_sentences_and_every_style_appears()
    {
        var docs = Corpus(1, 200_000);
        var sentences = docs.SelectMany(d => Regex.Split(d, @"(?<=[.?!])\s+|\n")).Where(s => s.Length > 0).ToList();
        int distinct = sentences.Distinct().Count();
        // Measured (seed 1): 3,276 distinct of 6,288 sentences in 200k characters, over a world of 36 people.
        Assert.True(distinct > 2_500, $"only {distinct} distinct sentences of {sentences.Count}");
        Assert.True(distinct > sentences.Count * 2 / 5, $"{distinct} distinct of {sentences.Count}");
        var styles = new Dictionary<string, string>
        {
            ["encyclopedia"] = @"^(Life and work|Notable events|History|Personal life|Family and friends|Outside of work): ",
            ["town guide"] = @"^(A short guide to|Visiting|Welcome to) ",
            ["story"] = @"^(One|On a) \w+ \w+day (morning|evening|afternoon), ",
            ["letter"] = @"^(Dear|My dear|Hello) \w+,$",
            ["news"] = @"^[A-Z]+ \(\d{4}\) - ",
            ["interview"] = @"^Q: ",
            ["diary"] = @"^\w+day\. (Dear diary|Notes for today|Today)\.$",
            ["list"] = @"^\d+ (facts|things to know|things you may not know) about ",
            ["column sum"] = @"^Ones: \d",
            ["split product"] = @"^Adding the parts: ",
            ["table"] = @"^(The|Times) table (of|for) \d+:$",
            ["check"] = @"^(This is right because|Check|To check) ",
            ["run sum"] = @"^A shortcut: ",
            ["word problem"] = @"^(Problem|Question|Exercise): ",
        };
        foreach (var (style, pattern) in styles)
            Assert.True(docs.Any(d => Regex.IsMatch(d, pattern, RegexOptions.Multiline)), $"no {style} document");
        int math = docs.Count(d => EquationChecker.Find(d).Count > 0);
        Assert.InRange(math / (double)docs.Count, 0.15, 0.35); // MathFraction = 0.25; prose holds no equations
    }

    [Fact]
    public void Every_equation_in_the_corpus_is_true()
    {
        var docs = Corpus(3, 200_000);
        var equations = docs.SelectMany(EquationChecker.Find).ToList();
        Assert.True(equations.Count > 400, $"{equations.Count} equations"); // measured: 824
        foreach (var (left, claimed) in equations)
            Assert.True(EquationChecker.Evaluate(left) == claimed, $"{left} = {claimed} is false");
    }

    [Fact]
    public void Corpus_states_only_facts_of_the_world()
    {
        var docs = Corpus(1, 200_000);
        string all = string.Join("\n", docs);
        var byFirst = World1.People.ToDictionary(p => p.First);
        int checkedCount = 0;
        foreach (Match m in Regex.Matches(all, @"\b([A-Z][a-z]+)(?: [A-Z][a-z]+)? is (\d+) years old"))
        {
            Assert.Equal(byFirst[m.Groups[1].Value].Age, int.Parse(m.Groups[2].Value)); checkedCount++;
        }
        foreach (Match m in Regex.Matches(all, @"\b([A-Z][a-z]+)(?: [A-Z][a-z]+)?'s favorite color is (\w+)"))
        {
            Assert.Equal(byFirst[m.Groups[1].Value].FavoriteColor, m.Groups[2].Value); checkedCount++;
        }
        foreach (Match m in Regex.Matches(all, @"\b([A-Z][a-z]+)(?: [A-Z][a-z]+)? lives in ([A-Z][a-z]+)"))
        {
            Assert.Equal(byFirst[m.Groups[1].Value].Home.Name, m.Groups[2].Value); checkedCount++;
        }
        foreach (Match m in Regex.Matches(all, @"\b([A-Z][a-z]+)(?: [A-Z][a-z]+)? (?:works as|is) an? (\w+)\.", RegexOptions.None))
        {
            if (!byFirst.TryGetValue(m.Groups[1].Value, out var p) || !Lexicon.Jobs.Any(j => j.Job == m.Groups[2].Value)) continue;
            Assert.Equal(p.Job, m.Groups[2].Value); checkedCount++;
        }
        Assert.True(checkedCount > 80, $"only {checkedCount} facts checked"); // measured: 109 (204 before notables took 45 % of documents)

        // Notables' facts: the corpus states each only as it is in the world.
        var notables = World1.Notables.ToDictionary(n => n.Name);
        int notableFacts = 0;
        foreach (Match m in Regex.Matches(all, @"([A-Z][a-z]+ [A-Z][a-z]+) was born in ([A-Z][a-z]+(?: [A-Z][a-z]+)?)\."))
        {
            Assert.Equal(notables[m.Groups[1].Value].BirthCity, m.Groups[2].Value); notableFacts++;
        }
        foreach (Match m in Regex.Matches(all, @"([A-Z][a-z]+ [A-Z][a-z]+) works for ([A-Z][A-Za-z ]+)\."))
        {
            Assert.Equal(notables[m.Groups[1].Value].Employer, m.Groups[2].Value); notableFacts++;
        }
        foreach (Match m in Regex.Matches(all, @"([A-Z][a-z]+ [A-Z][a-z]+) studied ([a-z]+)\."))
        {
            Assert.Equal(notables[m.Groups[1].Value].Major, m.Groups[2].Value); notableFacts++;
        }
        Assert.True(notableFacts > 100, $"only {notableFacts} notable facts checked");
    }

    private static string Describe(Person p) => $"{p.Name}|{p.Age}|{p.Job}|{p.Home.Name}|{p.PetName}|{string.Join(",", p.Friends.Select(f => f.First))}";
}
