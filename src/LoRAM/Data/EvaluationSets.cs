namespace LoRAM.Data;

/// <summary>The four evaluation sets of the paper's protocol, generated for one world:
/// <list type="bullet">
/// <item><see cref="InDomain"/> (ppl-in.jsonl): instructions of the training families whose prompts are held out —
/// perplexity on the distribution the adapter was tuned on (the OpenHermes test split analog).</item>
/// <item><see cref="OutOfDomain"/> (ppl-out.jsonl): instructions of task families absent from training — the
/// Alpaca analog, perplexity off the tuning distribution.</item>
/// <item><see cref="MultipleChoice"/> (mc.jsonl): four-way questions about world facts — the commonsense analog.</item>
/// <item><see cref="Math"/> (math.jsonl): held-out word problems, strict "#### n" match — the GSM8K analog.</item>
/// <item><see cref="Knowledge"/> (knowledge.jsonl): questions about the facts of held-out notables — people no
/// instruction asks about, whose facts only the pre-training corpus states (<see cref="Notables"/>).</item>
/// </list>
/// Every prompt is distinct within its set. In-domain, multiple-choice and math prompts are all held out by
/// <see cref="HeldOut"/>, so they occur in no training file; out-of-domain prompts come from families no
/// training generator has.</summary>
public sealed class EvaluationSets
{
    public IReadOnlyList<InstructionRecord> InDomain { get; }
    public IReadOnlyList<InstructionRecord> OutOfDomain { get; }
    public IReadOnlyList<MultipleChoiceItem> MultipleChoice { get; }
    public IReadOnlyList<Gsm8kItem> Math { get; }
    public IReadOnlyList<KnowledgeItem> Knowledge { get; }

    private EvaluationSets(List<InstructionRecord> inDomain, List<InstructionRecord> outOfDomain,
        List<MultipleChoiceItem> mc, List<Gsm8kItem> math, List<KnowledgeItem> knowledge)
    {
        InDomain = inDomain; OutOfDomain = outOfDomain; MultipleChoice = mc; Math = math; Knowledge = knowledge;
    }

    /// <summary>Names of the out-of-domain task families.</summary>
    public static IReadOnlyList<string> OutOfDomainFamilies => TaskFamilies.OutOfDomain.Select(f => f.Name).ToList();

    /// <summary>Up to <paramref name="size"/> items per set (a set is smaller only when the world has fewer distinct
    /// held-out prompts of its kind). Deterministic by world and seed.</summary>
    public static EvaluationSets Generate(World world, int seed, int size = 200)
    {
        var inDomain = Distinct(size, r => Pick(r, TaskFamilies.Training).Make(r, world), x => x.IsHeldOut,
            x => HeldOut.Normalize(x.Instruction + " " + x.Input), Rng.For(seed, "eval-in"));
        // Round-robin over the out-of-domain families keeps the small ones (initials, next letter) from being
        // crowded out by the large one (even/odd).
        int turn = 0;
        var outOfDomain = Distinct(size, r => TaskFamilies.OutOfDomain[turn++ % TaskFamilies.OutOfDomain.Count].Make(r, world),
            _ => true, x => HeldOut.Normalize(x.Instruction + " " + x.Input), Rng.For(seed, "eval-out"));
        var mc = Distinct(size, r => MultipleChoiceQuestions.Generate(r, world), x => x is not null && HeldOut.IsHeldOut(x.Question),
            x => HeldOut.Normalize(x!.Question), Rng.For(seed, "eval-mc")).Select(x => x!).ToList();
        var math = Distinct(size, r => MathProblems.Generate(world, r), x => HeldOut.IsHeldOut(x.Question),
            x => HeldOut.Normalize(x.Question), Rng.For(seed, "eval-math")).Select(p => new Gsm8kItem(p.Question, p.Solution)).ToList();
        var knowledge = Notables.HeldOutQuestions(world.Notables, seed).Take(size).ToList();
        return new EvaluationSets(inDomain, outOfDomain, mc, math, knowledge);
    }

    private static TaskFamily Pick(Rng r, IReadOnlyList<TaskFamily> families) => r.Pick(families);

    /// <summary>Draws until <paramref name="size"/> distinct accepted items, giving up after a fixed number of
    /// draws so a small world cannot loop forever.</summary>
    private static List<T> Distinct<T>(int size, Func<Rng, T> draw, Func<T, bool> accept, Func<T, string> key, Rng rng)
    {
        var seen = new HashSet<string>();
        var items = new List<T>();
        for (int tries = 0; items.Count < size && tries < 2000 + size * 500; tries++)
        {
            var x = draw(rng);
            if (accept(x) && seen.Add(key(x))) items.Add(x);
        }
        return items;
    }
}
