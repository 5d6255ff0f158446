using System.Text.RegularExpressions;
using LoRAM.Data;

namespace LoRAM.Tests.Data;

public class InstructionAndEvaluationTests
{
    private static readonly World World1 = World.Generate(1);

    [Fact]
    public void Same_seed_gives_the_same_instructions_and_evaluation_sets()
    {
        Assert.Equal(new InstructionGenerator(World1, 5).Generate(500), new InstructionGenerator(World.Generate(1), 5).Generate(500));
        Assert.NotEqual(new InstructionGenerator(World1, 5).Generate(500), new InstructionGenerator(World1, 6).Generate(500));
        var a = EvaluationSets.Generate(World1, 5, 50); var b = EvaluationSets.Generate(World.Generate(1), 5, 50);
        Assert.Equal(a.InDomain, b.InDomain);
        Assert.Equal(a.OutOfDomain, b.OutOfDomain);
        Assert.Equal(a.Math, b.Math);
        Assert.Equal(a.MultipleChoice.Select(x => (x.Question, string.Join("|", x.Choices), x.Label)),
                     b.MultipleChoice.Select(x => (x.Question, string.Join("|", x.Choices), x.Label)));
    }

    [Fact]
    public void Instructions_cover_at_least_six_families_drawn_evenly()
    {
        var counts = new InstructionGenerator(World1, 1).Tagged(7_000).GroupBy(t => t.Family).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(counts.Count >= 6);
        Assert.Equal(InstructionGenerator.Families.OrderBy(f => f), counts.Keys.OrderBy(f => f));
        Assert.All(counts.Values, n => Assert.InRange(n, 700, 1_300)); // 1000 each expected
    }

    [Fact]
    public void Math_word_problems_reason_correctly_and_end_in_the_gsm8k_answer()
    {
        var problems = new InstructionGenerator(World1, 2).Tagged(3_000).Where(t => t.Family == "math-word-problem").Select(t => t.Record).ToList();
        Assert.True(problems.Count > 300);
        foreach (var p in problems.Concat(EvaluationSets.Generate(World1, 2).Math.Select(m => new InstructionRecord(m.Question, "", m.Answer))))
        {
            var steps = p.Output.Split('\n');
            Assert.StartsWith("#### ", steps[^1]);
            long last = 0;
            foreach (var step in steps[..^1])
            {
                var eq = Assert.Single(EquationChecker.Find(step));
                Assert.True(EquationChecker.Evaluate(eq.Left) == eq.Claimed, $"{step}");
                last = eq.Claimed;
            }
            Assert.Equal(last, Gsm8kAnswer.Extract(p.Output)); // the final answer is the last step's result
            Assert.True(last >= 0, p.Instruction);
        }
    }

    [Fact]
    public void Instruction_answers_are_right_for_sorting_comparison_counting_and_facts()
    {
        var byName = World1.People.ToDictionary(p => p.Name);
        foreach (var (family, r) in new InstructionGenerator(World1, 3).Tagged(3_000))
        {
            if (r.Instruction.StartsWith("Sort these numbers in ascending"))
                Assert.Equal(string.Join(", ", r.Input.Split(", ").Select(int.Parse).Order()), r.Output);
            else if (r.Instruction == "How many words are in this sentence?")
                Assert.Equal($"The sentence has {r.Input.Split(' ').Length} words.", r.Output);
            else if (family == "arithmetic")
            {
                var eq = Assert.Single(EquationChecker.Find(r.Output));
                Assert.Equal(EquationChecker.Evaluate(eq.Left), eq.Claimed);
            }
            else if (Regex.Match(r.Instruction + r.Input, @"How old is (\w+ \w+)\?") is { Success: true } m)
                Assert.Equal($"{m.Groups[1].Value} is {byName[m.Groups[1].Value].Age} years old.", r.Output);
            else if (Regex.Match(r.Instruction, @"Who is older, (\w+ \w+) or (\w+ \w+)\?") is { Success: true } o)
            {
                var (a, b) = (byName[o.Groups[1].Value], byName[o.Groups[2].Value]);
                if (a.Age != b.Age) Assert.StartsWith((a.Age > b.Age ? a : b).First + " is older", r.Output);
            }
        }
    }

    [Fact]
    public void Evaluation_sets_are_full_distinct_and_well_formed()
    {
        var eval = EvaluationSets.Generate(World1, 1, 200);
        Assert.Equal(200, eval.InDomain.Count);
        Assert.Equal(200, eval.OutOfDomain.Count);
        Assert.Equal(200, eval.MultipleChoice.Count);
        Assert.Equal(200, eval.Math.Count);
        Assert.Equal(200, eval.InDomain.Select(x => HeldOut.Normalize(x.Instruction + " " + x.Input)).Distinct().Count());
        Assert.Equal(200, eval.MultipleChoice.Select(x => x.Question).Distinct().Count());
        Assert.Equal(200, eval.Math.Select(x => x.Question).Distinct().Count());
        foreach (var q in eval.MultipleChoice)
        {
            Assert.Equal(4, q.Choices.Count);
            Assert.Equal(4, q.Choices.Distinct().Count());
            Assert.InRange(q.Label, 0, 3);
        }
        // Gold positions are spread over the four slots, so "always A" scores about 25 %.
        Assert.All(Enumerable.Range(0, 4), k => Assert.InRange(eval.MultipleChoice.Count(q => q.Label == k), 20, 90));
        // The gold choice is the true fact for job questions.
        foreach (var q in eval.MultipleChoice.Where(q => q.Question.StartsWith("Which job does ")))
        {
            var person = World1.People.Single(p => q.Question.StartsWith($"Which job does {p.Name} have"));
            Assert.Equal(person.Job, q.Choices[q.Label]);
        }
        var outFamilies = eval.OutOfDomain.Select(x => x.Instruction.Split(' ')[0]).Distinct().Count();
        Assert.True(outFamilies >= 4, "out-of-domain set mixes its families");
    }

    [Fact]
    public void Held_out_prompts_never_occur_in_training_data()
    {
        var world = World.Generate(11);
        var eval = EvaluationSets.Generate(world, 11, 200);
        var training = new InstructionGenerator(world, 11).Generate(30_000).ToList();
        var trainingKeys = training.Select(r => HeldOut.Normalize(r.Instruction + " " + r.Input)).ToHashSet();
        var trainingText = string.Join("\n", training.Select(r => r.Instruction + "\n" + r.Input + "\n" + r.Output));
        string corpus = string.Join("\n\n", new CorpusGenerator(world, 11).Documents(400_000));

        // A generator that ignored the rule would hit held-out prompts often: 10 % of a large training set.
        Assert.Equal(0, training.Count(r => r.IsHeldOut));
        Assert.All(eval.InDomain, x => Assert.DoesNotContain(HeldOut.Normalize(x.Instruction + " " + x.Input), trainingKeys));
        Assert.All(eval.OutOfDomain, x => Assert.DoesNotContain(HeldOut.Normalize(x.Instruction + " " + x.Input), trainingKeys));
        Assert.All(eval.Math, x => Assert.DoesNotContain(x.Question, trainingText));
        Assert.All(eval.Math, x => Assert.DoesNotContain(x.Question, corpus));
        Assert.All(eval.MultipleChoice, x => Assert.DoesNotContain(x.Question, trainingText));
        Assert.All(eval.MultipleChoice, x => Assert.DoesNotContain(x.Question, corpus));
        // ... while the same generators, unfiltered, do produce those prompts: the split is what keeps them out.
        int mathQuestionsInCorpus = Regex.Matches(corpus, @"(?:Problem|Question|Exercise): ").Count;
        Assert.True(mathQuestionsInCorpus > 50);
    }

    [Fact]
    public void Held_out_split_depends_on_the_normalized_prompt_only_and_takes_about_ten_percent()
    {
        Assert.Equal(HeldOut.IsHeldOut("What is  Anna Berg's job?"), HeldOut.IsHeldOut(" what is anna berg's\tjob? "));
        Assert.Equal(HeldOut.IsHeldOut("Is 12 even or odd?"), HeldOut.IsHeldOut("Is 12 even or odd?", ""));
        int held = Enumerable.Range(0, 20_000).Count(i => HeldOut.IsHeldOut($"What is {i} + 7?"));
        Assert.InRange(held, 1_800, 2_200); // binomial(20000, 0.1): mean 2000, sd 42
    }
}
