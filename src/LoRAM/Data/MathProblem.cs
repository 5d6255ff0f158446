namespace LoRAM.Data;

/// <summary>A grade-school word problem with its worked solution. Every step holds exactly one equation
/// "a op b = c" with whole numbers, so the reasoning can be re-checked by parsing it; <see cref="Answer"/> is
/// the result of the last step.</summary>
public sealed record MathProblem(string Question, IReadOnlyList<string> Steps, long Answer)
{
    /// <summary>The GSM8K answer layout: the steps, one per line, then "#### answer".</summary>
    public string Solution => string.Join("\n", Steps) + $"\n#### {Answer}";
}

/// <summary>Word problems in the style of GSM8K, about the people of a <see cref="World"/>: two to three steps
/// of +, -, * and exact division. Ages come from the world, so the problems never contradict the corpus.</summary>
public static class MathProblems
{
    private const int Templates = 8;

    internal static MathProblem Generate(World world, Rng rng) => (rng.Next(Templates)) switch
    {
        0 => BuyContainers(world, rng),
        1 => GiveAway(world, rng),
        2 => ShareEqually(world, rng),
        3 => Change(world, rng),
        4 => Ages(world, rng),
        5 => Savings(world, rng),
        6 => Travel(world, rng),
        _ => Rows(world, rng),
    };

    /// <summary>Public entry for callers outside the assembly: the i-th problem of a seeded stream.</summary>
    public static IEnumerable<MathProblem> Stream(World world, int seed)
    {
        var rng = Rng.For(seed, "math-problems");
        while (true) yield return Generate(world, rng);
    }

    private static MathProblem BuyContainers(World w, Rng r)
    {
        var p = r.Pick(w.People);
        var (items, _) = r.Pick(Lexicon.Countables);
        string box = r.Pick(Lexicon.Containers);
        int a = r.Between(2, 40), b = r.Between(2, 9), c = r.Between(2, 12);
        long bc = (long)b * c, total = a + bc;
        return new MathProblem(
            r.Vary($"{p.First} has {a} {items}. {p.First} {{buys|gets|is given}} {b} {box} with {c} {items} in each. How many {items} does {p.First} have now?"),
            [$"The {box} hold {b} * {c} = {bc} {items}.", $"{p.First} now has {a} + {bc} = {total} {items}."], total);
    }

    private static MathProblem GiveAway(World w, Rng r)
    {
        var (p, q, s) = Three(w, r);
        var (items, _) = r.Pick(Lexicon.Countables);
        int b = r.Between(2, 30), c = r.Between(2, 30), extra = r.Between(1, 50);
        int a = b + c + extra;
        return new MathProblem(
            r.Vary($"{p.First} had {a} {items}. {p.First} gave {b} to {q.First} and {c} to {s.First}. How many {items} {{does {p.First} have left|are left with {p.First}}}?"),
            [$"{p.First} gave away {b} + {c} = {b + c} {items}.", $"{p.First} has {a} - {b + c} = {extra} {items} left."], extra);
    }

    private static MathProblem ShareEqually(World w, Rng r)
    {
        var (p, q, _) = Three(w, r);
        var (items, _) = r.Pick(Lexicon.Countables);
        int k = r.Between(2, 8), per = r.Between(2, 15), e = r.Between(1, 9);
        int total = k * per;
        return new MathProblem(
            $"{p.First} shares {total} {items} equally among {k} friends. Then {q.First} gives each friend {e} more {items}. How many {items} does each friend have?",
            [$"Each friend first gets {total} / {k} = {per} {items}.", $"With the gift, each friend has {per} + {e} = {per + e} {items}."], per + e);
    }

    private static MathProblem Change(World w, Rng r)
    {
        var p = r.Pick(w.People);
        var (items, _) = r.Pick(Lexicon.Countables);
        int q = r.Between(2, 12), price = r.Between(1, 15);
        int cost = q * price;
        int note = new[] { 20, 50, 100, 200 }.First(n => n >= cost);
        return new MathProblem(
            r.Vary($"{p.First} {{buys|picks up}} {q} {items} at {price} dollars each and pays with a {note}-dollar note. How much change does {p.First} get?"),
            [$"The {items} cost {q} * {price} = {cost} dollars.", $"The change is {note} - {cost} = {note - cost} dollars."], note - cost);
    }

    private static MathProblem Ages(World w, Rng r)
    {
        var (p, q, _) = Three(w, r);
        int y = r.Between(2, 20);
        int pa = p.Age + y, qa = q.Age + y;
        return new MathProblem(
            $"{p.First} is {p.Age} years old and {q.First} is {q.Age} years old. What will the sum of their ages be in {y} years?",
            [$"In {y} years {p.First} will be {p.Age} + {y} = {pa}.", $"In {y} years {q.First} will be {q.Age} + {y} = {qa}.",
             $"The sum of their ages will be {pa} + {qa} = {pa + qa}."], pa + qa);
    }

    private static MathProblem Savings(World w, Rng r)
    {
        var p = r.Pick(w.People);
        int s = r.Between(3, 25), weeks = r.Between(2, 12);
        int saved = s * weeks, spent = r.Between(1, saved - 1);
        string thing = r.Pick(Lexicon.ThingKinds);
        return new MathProblem(
            r.Vary($"{p.First} {{saves|puts aside}} {s} dollars every week. After {weeks} weeks, {p.First} spends {spent} dollars on a {thing}. How many dollars does {p.First} have left?"),
            [$"{p.First} saves {s} * {weeks} = {saved} dollars.", $"After buying the {thing}, {p.First} has {saved} - {spent} = {saved - spent} dollars left."],
            saved - spent);
    }

    private static MathProblem Travel(World w, Rng r)
    {
        var p = r.Pick(w.People);
        var from = r.Pick(w.Places);
        int v = r.Between(3, 12) * 10, h = r.Between(2, 6), d = r.Between(5, 60);
        int first = v * h;
        return new MathProblem(
            $"{p.First} drives from {from.Name} at {v} kilometers per hour for {h} hours, then drives {d} more kilometers. How many kilometers does {p.First} drive in total?",
            [$"In {h} hours {p.First} drives {v} * {h} = {first} kilometers.", $"In total that is {first} + {d} = {first + d} kilometers."],
            first + d);
    }

    private static MathProblem Rows(World w, Rng r)
    {
        var p = r.Pick(w.People);
        int rows = r.Between(3, 12), each = r.Between(4, 15);
        int planted = rows * each, lost = r.Between(1, planted / 2);
        return new MathProblem(
            $"{p.First} plants {rows} rows of trees with {each} trees in each row. Later {lost} of the trees are cut down. How many trees are still standing?",
            [$"{p.First} plants {rows} * {each} = {planted} trees.", $"Still standing: {planted} - {lost} = {planted - lost} trees."],
            planted - lost);
    }

    private static (Person, Person, Person) Three(World w, Rng r)
    {
        var s = r.Sample(w.People, 3);
        return (s[0], s[1], s[2]);
    }
}
