namespace LoRAM.Data;

/// <summary>A kind of instruction with its generator of examples.</summary>
internal sealed record TaskFamily(string Name, Func<Rng, World, InstructionRecord> Make);

/// <summary>The instruction task families. <see cref="Training"/> make instructions.jsonl (the OpenHermes analog) and
/// the in-domain perplexity set; <see cref="OutOfDomain"/> appear in no training file and make the out-of-domain
/// perplexity set (the Alpaca analog of the paper). Answers are computed from the world or the input, never
/// made up, so each output is the correct one.</summary>
internal static class TaskFamilies
{
    public static readonly IReadOnlyList<TaskFamily> Training =
    [
        new("fact-lookup", FactLookup),
        new("notable-lookup", NotableLookup),
        new("list-sort", ListSort),
        new("rewrite", Rewrite),
        new("counting", Counting),
        new("comparison", Comparison),
        new("arithmetic", Arithmetic),
        new("math-word-problem", MathWordProblem),
    ];

    public static readonly IReadOnlyList<TaskFamily> OutOfDomain =
    [
        new("initials", Initials),
        new("spell-backwards", SpellBackwards),
        new("even-odd", EvenOdd),
        new("introduce-person", IntroducePerson),
        new("next-letter", NextLetter),
    ];

    // ---- training families ----

    private static InstructionRecord FactLookup(Rng r, World w)
    {
        var p = r.Pick(w.People);
        var (question, answer) = r.Next(7) switch
        {
            0 => (r.Chance(0.5) ? $"What is {p.Name}'s job?" : $"What does {p.Name} do for a living?", $"{p.Name} is a {p.Job}."),
            1 => (r.Vary($"{{Where does {p.Name} live|In which place does {p.Name} live}}?"), $"{p.Name} lives in {p.Home.Name}."),
            2 => ($"How old is {p.Name}?", $"{p.Name} is {p.Age} years old."),
            3 => ($"Does {p.Name} have a pet?", p.PetAnimal is null ? $"No, {p.First} has no pets." : $"Yes, {p.First} has a {p.PetAnimal} named {p.PetName}."),
            4 => ($"What is {p.Name}'s favorite color?", $"{p.First}'s favorite color is {p.FavoriteColor}."),
            5 => ($"What is {p.Name}'s favorite food?", $"{p.First}'s favorite food is {p.FavoriteFood}."),
            _ => ($"Who are {p.Name}'s friends?", p.Friends.Count == 0 ? $"{p.First} has no friends listed." : string.Join(" and ", p.Friends.Select(f => f.Name)) + "."),
        };
        return r.Chance(0.5)
            ? new(question, "", answer)
            : new(r.Vary("{Answer the question about the world.|Answer the following question.|Use what you know about the town folk to answer.}"), question, answer);
    }

    /// <summary>A question about a notable of the training half; the held-out half is what the knowledge evaluation asks.</summary>
    private static InstructionRecord NotableLookup(Rng r, World w)
    {
        Notable n;
        do n = r.Pick(w.Notables); while (n.IsHeldOut);
        return Notables.Question(r, n);
    }

    private static InstructionRecord ListSort(Rng r, World w)
    {
        switch (r.Next(3))
        {
            case 0:
            {
                var xs = Enumerable.Range(0, r.Between(3, 8)).Select(_ => r.Between(0, 999)).ToList();
                bool up = r.Chance(0.5);
                var sorted = up ? xs.OrderBy(x => x) : xs.OrderByDescending(x => x);
                return new(r.Vary($"Sort these numbers {{in|into}} {(up ? "ascending" : "descending")} order."), string.Join(", ", xs), string.Join(", ", sorted));
            }
            case 1:
            {
                var names = r.Sample(w.People, r.Between(3, 6)).Select(p => p.First).ToList();
                return new(r.Vary("{Sort these names alphabetically.|Put these names in alphabetical order.}"), string.Join(", ", names),
                    string.Join(", ", names.OrderBy(n => n, StringComparer.Ordinal)));
            }
            default:
            {
                var people = r.Sample(w.People, r.Between(3, 5));
                return new("List these people from youngest to oldest.", string.Join(", ", people.Select(p => p.Name)),
                    string.Join(", ", people.OrderBy(p => p.Age).ThenBy(p => p.Name, StringComparer.Ordinal).Select(p => $"{p.Name} ({p.Age})")));
            }
        }
    }

    private static InstructionRecord Rewrite(Rng r, World w)
    {
        string sentence = Facts.AboutPerson(r, w, r.Pick(w.People));
        return r.Next(4) switch
        {
            0 => new("Rewrite the sentence in capital letters.", sentence, sentence.ToUpperInvariant()),
            1 => new("Rewrite the sentence in lower case.", sentence, sentence.ToLowerInvariant()),
            2 => new("Reverse the order of the words in the sentence.", sentence,
                string.Join(" ", sentence.TrimEnd('.').Split(' ').Reverse())),
            _ => new("Rewrite the sentence without any commas or periods.", sentence, sentence.Replace(",", "").Replace(".", "")),
        };
    }

    private static InstructionRecord Counting(Rng r, World w)
    {
        switch (r.Next(3))
        {
            case 0:
            {
                string s = Facts.AboutPerson(r, w, r.Pick(w.People));
                int n = s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
                return new("How many words are in this sentence?", s, $"The sentence has {n} words.");
            }
            case 1:
            {
                string s = Facts.AboutPerson(r, w, r.Pick(w.People));
                char c = r.Pick("aeinorst".ToCharArray());
                int n = s.Count(ch => char.ToLowerInvariant(ch) == c);
                return new($"How many times does the letter '{c}' appear in this sentence?", s, $"The letter '{c}' appears {n} times.");
            }
            default:
            {
                var place = r.Pick(w.Places);
                int n = w.LivingIn(place).Count();
                return new($"How many people in the world live in {place.Name}?", "", $"{n} {(n == 1 ? "person lives" : "people live")} in {place.Name}.");
            }
        }
    }

    private static InstructionRecord Comparison(Rng r, World w)
    {
        switch (r.Next(3))
        {
            case 0:
            {
                var s = r.Sample(w.People, 2);
                var (a, b) = (s[0], s[1]);
                string answer = a.Age == b.Age ? $"They are the same age: both are {a.Age}."
                    : a.Age > b.Age ? $"{a.First} is older: {a.First} is {a.Age} and {b.First} is {b.Age}."
                    : $"{b.First} is older: {b.First} is {b.Age} and {a.First} is {a.Age}.";
                return new($"Who is older, {a.Name} or {b.Name}?", "", answer);
            }
            case 1:
            {
                var s = r.Sample(w.Places, 2);
                var (a, b) = (s[0], s[1]);
                var big = a.Population >= b.Population ? a : b;
                return new($"Which has more people, {a.Name} or {b.Name}?", "",
                    $"{big.Name} has more people: {a.Name} has about {a.Population} and {b.Name} has about {b.Population}.");
            }
            default:
            {
                int x = r.Between(0, 9999), y = r.Between(0, 9999);
                return new("Which number is larger?", $"{x} or {y}", x == y ? $"They are equal: {x}." : $"{Math.Max(x, y)} is larger than {Math.Min(x, y)}.");
            }
        }
    }

    private static InstructionRecord Arithmetic(Rng r, World w)
    {
        int a = r.Between(2, 999), b = r.Between(2, 99);
        return r.Next(3) switch
        {
            0 => new($"What is {a} + {b}?", "", $"{a} + {b} = {a + b}"),
            1 => new($"What is {Math.Max(a, b)} - {Math.Min(a, b)}?", "", $"{Math.Max(a, b)} - {Math.Min(a, b)} = {Math.Abs(a - b)}"),
            _ => new($"What is {a % 100} * {b % 13}?", "", $"{a % 100} * {b % 13} = {a % 100 * (b % 13)}"),
        };
    }

    private static InstructionRecord MathWordProblem(Rng r, World w)
    {
        var p = MathProblems.Generate(w, r);
        return new(p.Question, "", p.Solution);
    }

    // ---- out-of-domain families ----

    private static InstructionRecord Initials(Rng r, World w)
    {
        var p = r.Pick(w.People);
        return new($"What are the initials of {p.Name}?", "", $"{p.First[0]}. {p.Last[0]}.");
    }

    private static InstructionRecord SpellBackwards(Rng r, World w)
    {
        string word = r.Pick(new[] { r.Pick(w.People).First, r.Pick(w.Places).Name, r.Pick(Lexicon.Animals), r.Pick(Lexicon.Colors), r.Pick(Lexicon.ThingKinds) });
        return new("Spell the word backwards.", word, new string(word.Reverse().ToArray()));
    }

    private static InstructionRecord EvenOdd(Rng r, World w)
    {
        int n = r.Between(0, 9999);
        return new($"Is {n} even or odd?", "", $"{n} is {(n % 2 == 0 ? "even" : "odd")}.");
    }

    private static InstructionRecord IntroducePerson(Rng r, World w)
    {
        var p = r.Pick(w.People);
        return new($"Introduce {p.Name} in one sentence.", "", $"{p.Name} is a {p.Age}-year-old {p.Job} from {p.Home.Name} who enjoys {p.Hobby}.");
    }

    private static InstructionRecord NextLetter(Rng r, World w)
    {
        char c = (char)('a' + r.Between(0, 24));
        return new($"Which letter of the alphabet comes after '{c}'?", "", $"The letter after '{c}' is '{(char)(c + 1)}'.");
    }
}
