namespace LoRAM.Data;

/// <summary>The instruction-tuning set — the analog of the paper's OpenHermes: eight task families (fact lookup
/// about the world's people, questions about its training-half notables, list sorting, rewriting text, counting, comparison, arithmetic, and GSM8K-style math word
/// problems whose output is a step-by-step rationale ending in "#### n"), drawn uniformly. Held-out prompts
/// (<see cref="HeldOut"/>) are skipped, so no evaluation prompt is ever trained on. Deterministic by seed.</summary>
public sealed class InstructionGenerator(World world, int seed)
{
    /// <summary>Names of the training task families, in order.</summary>
    public static IReadOnlyList<string> Families => TaskFamilies.Training.Select(f => f.Name).ToList();

    /// <summary><paramref name="count"/> training instructions.</summary>
    public IEnumerable<InstructionRecord> Generate(int count) => Tagged(count).Select(t => t.Record);

    /// <summary>Training instructions with the name of the family each came from.</summary>
    public IEnumerable<(string Family, InstructionRecord Record)> Tagged(int count)
    {
        var rng = Rng.For(seed, "instructions");
        for (int made = 0; made < count;)
        {
            var family = rng.Pick(TaskFamilies.Training);
            var record = family.Make(rng, world);
            if (record.IsHeldOut) continue;
            made++;
            yield return (family.Name, record);
        }
    }
}
