namespace LoRAM.Data;

/// <summary>Four-way multiple-choice questions about facts of the world: a person's job, home, pet, favorite
/// color, food and hobby; who is oldest; which place is largest or known for a landmark. Distractors are drawn
/// so that exactly one choice is true. Each question lists its four choices, which makes its phrasing differ from every instruction family's.</summary>
internal static class MultipleChoiceQuestions
{
    /// <summary>A question, or null when the drawn person or places cannot support one (e.g. no pet).</summary>
    public static MultipleChoiceItem? Generate(Rng r, World w)
    {
        var p = r.Pick(w.People);
        return r.Next(9) switch
        {
            0 => Attribute(r, $"Which job does {p.Name} have", p.Job, Lexicon.Jobs.Select(j => j.Job).ToList()),
            1 => Attribute(r, $"Which place is home to {p.Name}", p.Home.Name, w.Places.Select(x => x.Name).ToList()),
            2 => p.PetAnimal is null ? null : Attribute(r, $"What kind of animal is {p.PetName}, the pet of {p.Name}", p.PetAnimal, Lexicon.Animals),
            3 => Attribute(r, $"Which color does {p.Name} like best", p.FavoriteColor, Lexicon.Colors),
            4 => Attribute(r, $"Which dish is the favorite of {p.Name}", p.FavoriteFood, Lexicon.Foods),
            5 => Attribute(r, $"What does {p.Name} enjoy in free time", p.Hobby, Lexicon.Hobbies),
            6 => Extreme(r, "Who is the oldest", w.People, x => x.Age, x => x.Name),
            7 => Extreme(r, "Which place has the most people", w.Places, x => x.Population, x => x.Name),
            _ => Landmark(r, w),
        };
    }

    private static MultipleChoiceItem Attribute(Rng r, string question, string truth, IReadOnlyList<string> pool)
    {
        var choices = r.Sample(pool.Where(x => x != truth).Distinct().ToList(), 3);
        choices.Insert(r.Next(4), truth);
        return Item(question, choices, choices.IndexOf(truth));
    }

    private static MultipleChoiceItem? Extreme<T>(Rng r, string question, IReadOnlyList<T> pool, Func<T, int> key, Func<T, string> name)
    {
        var four = r.Sample(pool, 4);
        if (four.Count < 4 || four.Select(key).Distinct().Count() < 4) return null;
        var choices = four.Select(name).ToList();
        return Item(question, choices, choices.IndexOf(name(four.MaxBy(key)!)));
    }

    private static MultipleChoiceItem? Landmark(Rng r, World w)
    {
        var four = r.Sample(w.Places, 4);
        if (four.Count < 4 || four.Select(x => x.Landmark).Distinct().Count() < 4) return null;
        var truth = four[0];
        r.Shuffle(four);
        return Item($"Which place is known for {truth.Landmark}", four.Select(x => x.Name).ToList(), four.IndexOf(truth));
    }

    /// <summary>The stem with its choices spelled out ("Who is the oldest: A, B, C or D?"), so each question names
    /// its own options and is distinct from the instruction families' questions.</summary>
    private static MultipleChoiceItem Item(string stem, List<string> choices, int label) =>
        new($"{stem}: {choices[0]}, {choices[1]}, {choices[2]} or {choices[3]}?", choices, label);
}
