namespace LoRAM.Data;

/// <summary>A well-known person of the world, with four facts and a popularity rank (1 = the most written about).</summary>
public sealed record Notable(string Name, int Rank, string BirthCity, string University, string Major, string Employer)
{
    /// <summary>Notables of even rank are the <b>training</b> half (instructions ask about them); odd ranks are the
    /// <b>held-out</b> half the knowledge evaluation asks about. Both halves span the whole popularity range.</summary>
    public bool IsHeldOut => Rank % 2 == 1;

    public override string ToString() => Name;
}

/// <summary>One of a notable's four facts: how the corpus states it, how a question asks it, the answer's shape.</summary>
public sealed record NotableAttribute(string Key, IReadOnlyList<string> Values, Func<Notable, string> Of,
    Func<Notable, string> Question, Func<Notable, string, string> Answer);

/// <summary>
/// The world's knowledge that only pre-training can give: a few hundred notable people, each with four facts
/// (birth city, university, field of study, employer), drawn from lists of 12–16 values so a fact is 3.6–4 bits.
/// Popularity follows a Zipf–Mandelbrot law — the corpus writes about the notable of rank k in proportion to
/// (k + <see cref="ZipfOffset"/>)^−<see cref="ZipfExponent"/> — so on the shipped 6 M-token pre-training the most
/// popular have each fact stated a few hundred times and the least two or three times: a range wide enough that
/// somewhere in it the larger model remembers what the smaller does not, without knowing in advance where. A larger model memorises facts from
/// fewer exposures (Allen-Zhu &amp; Li, Physics of Language Models 3.3), so at a fixed token budget it knows a
/// longer tail: the gap between the base and its smaller sibling that LoRAM's claim rests on. Every fact is stated
/// in several phrasings, in several document styles, with its sentences in random order — what makes a stored fact
/// extractable by a later fine-tune on questions about <i>other</i> people (Physics of Language Models 3.1).
/// </summary>
public static class Notables
{
    /// <summary>How many notables a world has.</summary>
    public const int Count = 800;

    /// <summary>Zipf exponent of how often the corpus writes about each notable.</summary>
    public const double ZipfExponent = 1.0;

    /// <summary>Mandelbrot's offset: flattens the head, so the most popular few do not take most of the documents.</summary>
    public const double ZipfOffset = 5;

    public static readonly IReadOnlyList<string> FirstNames =
    [
        "Adrian", "Beatrix", "Cyrus", "Delia", "Edmund", "Fiona", "Gideon", "Helena", "Isaac", "Judith", "Konrad", "Livia",
        "Magnus", "Nadia", "Orson", "Philippa", "Quentin", "Rowena", "Silas", "Thea", "Ulric", "Vivian", "Willa", "Yusuf",
        "Agnes", "Boris", "Camille", "Dmitri", "Esther", "Florian", "Harriet", "Ignatius", "Josefine", "Kasimir", "Lorna",
        "Matthias", "Noemi", "Otto", "Priya", "Raphael", "Sabine", "Tobias", "Ines", "Viktor", "Wilhelmina", "Zelda",
    ];

    public static readonly IReadOnlyList<string> Surnames =
    [
        "Ashworth", "Bellamy", "Crane", "Delacroix", "Eastwood", "Fairbanks", "Goldberg", "Hargrove", "Ivanova", "Jardine",
        "Kingsley", "Lindqvist", "Marchetti", "Novak", "Oakley", "Pemberton", "Quintero", "Rasmussen", "Sorensen",
        "Thornbury", "Underhill", "Valdez", "Whitlock", "Yardley", "Albrecht", "Blackwood", "Calder", "Drummond",
        "Everly", "Forsythe", "Galloway", "Hawthorne", "Kessler", "Lockhart", "Mendoza", "Nakamura", "Ostrowski",
        "Prescott", "Radcliffe", "Sinclair",
    ];

    public static readonly IReadOnlyList<string> Cities =
    [
        "Dunmere", "Calloway", "Port Ilsa", "Westmarch", "Quillon", "Sandhaven", "Korveth", "Larkmouth", "Amberleigh",
        "Tolbridge", "Veyra", "Hollowmere", "Castelmar", "Redwater", "Nordholm", "Fallowby",
    ];

    public static readonly IReadOnlyList<string> Universities =
    [
        "Harlow College", "Kestrel University", "the Wyvern Institute", "Saint Aldric College", "Morrow University",
        "the Lantern Academy", "Greyfield University", "the Corvane Institute", "Ellery College", "Brackwater University",
        "the Solace Academy", "Tamsin University",
    ];

    public static readonly IReadOnlyList<string> Majors =
    [
        "physics", "chemistry", "history", "music", "medicine", "law", "architecture", "biology", "economics", "geology",
        "mathematics", "philosophy", "engineering", "botany", "astronomy", "linguistics",
    ];

    public static readonly IReadOnlyList<string> Employers =
    [
        "Brightwater Foods", "Corvid Shipping", "Larkspur Bank", "Pinecrest Motors", "Halcyon Press", "Ironleaf Mining",
        "Bluefin Airlines", "Moonstone Labs", "Copperfield Rail", "Silverline Textiles", "Ember Glassworks",
        "Northwind Energy", "Juniper Pharmacy", "Quarry Hill Builders", "Saffron Hotels", "Tidewell Fisheries",
    ];

    /// <summary>The four facts, each with the question the evaluation asks and its one-sentence answer.</summary>
    public static readonly IReadOnlyList<NotableAttribute> Attributes =
    [
        new("birth_city", Cities, n => n.BirthCity, n => $"Where was {n.Name} born?", (n, v) => $"{n.Name} was born in {v}."),
        new("university", Universities, n => n.University, n => $"Which university did {n.Name} attend?", (n, v) => $"{n.Name} studied at {v}."),
        new("major", Majors, n => n.Major, n => $"What did {n.Name} study?", (n, v) => $"{n.Name} studied {v}."),
        new("employer", Employers, n => n.Employer, n => $"Who does {n.Name} work for?", (n, v) => $"{n.Name} works for {v}."),
    ];

    /// <summary>The notables of a seed, in rank order; the same seed always gives the same list. Independent of the
    /// rest of the world's random streams, so adding notables left the people and places of every seed unchanged.</summary>
    public static IReadOnlyList<Notable> Generate(int seed, int count = Count)
    {
        if (count < 8 || count > FirstNames.Count * Surnames.Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"between 8 and {FirstNames.Count * Surnames.Count}");
        var rng = Rng.For(seed, "notables");
        var names = new HashSet<string>();
        var list = new List<Notable>(count);
        while (list.Count < count)
        {
            string name = $"{rng.Pick(FirstNames)} {rng.Pick(Surnames)}";
            if (!names.Add(name)) continue;
            list.Add(new Notable(name, list.Count + 1, rng.Pick(Cities), rng.Pick(Universities), rng.Pick(Majors), rng.Pick(Employers)));
        }
        return list;
    }

    /// <summary>Draws a notable with probability ∝ (rank + <see cref="ZipfOffset"/>)^−<see cref="ZipfExponent"/> (inverse CDF over a table).</summary>
    public sealed class PopularitySampler
    {
        private readonly IReadOnlyList<Notable> _notables;
        private readonly double[] _cumulative;

        public PopularitySampler(IReadOnlyList<Notable> notables)
        {
            _notables = notables;
            _cumulative = new double[notables.Count];
            double sum = 0;
            for (int i = 0; i < notables.Count; i++) _cumulative[i] = sum += Math.Pow(i + 1 + ZipfOffset, -ZipfExponent);
            for (int i = 0; i < notables.Count; i++) _cumulative[i] /= sum;
        }

        /// <summary>Share of the corpus's notable documents about the notable of rank <paramref name="rank"/>.</summary>
        public double Share(int rank) => _cumulative[rank - 1] - (rank == 1 ? 0 : _cumulative[rank - 2]);

        internal Notable Draw(Rng r)
        {
            int i = Array.BinarySearch(_cumulative, r.NextDouble());
            return _notables[Math.Min(i < 0 ? ~i : i, _notables.Count - 1)];
        }
    }

    // ---- how the corpus states the facts ----

    internal static string Sentence(Rng r, Notable n, string key) => key switch
    {
        "birth_city" => r.Vary(r.Pick(new[]
        {
            $"{n.Name} was born in {n.BirthCity}.",
            $"Born in {n.BirthCity}, {n.Name} {{grew up|spent a childhood}} {{by the sea|in a busy street|near the old market}}.",
            $"{n.Name} {{is a native of|comes from}} {n.BirthCity}.",
            $"{n.BirthCity} is the {{birthplace|home town}} of {n.Name}.",
        })),
        "university" => r.Vary(r.Pick(new[]
        {
            $"{n.Name} studied at {n.University}.",
            $"{n.Name} {{graduated from|is a graduate of}} {n.University}.",
            $"{{After school|As a young student}}, {n.Name} went to {n.University}.",
            $"{Capital(n.University)} {{is where|was where}} {n.Name} {{trained|was educated}}.",
        })),
        "major" => r.Vary(r.Pick(new[]
        {
            $"{n.Name} studied {n.Major}.",
            $"{n.Name} {{earned|holds}} a degree in {n.Major}.",
            $"{n.Name}'s field is {n.Major}.",
            $"{n.Name} {{specialized|trained}} in {n.Major}.",
        })),
        _ => r.Vary(r.Pick(new[]
        {
            $"{n.Name} works for {n.Employer}.",
            $"{n.Name} is employed by {n.Employer}.",
            $"{n.Name} {{took a job|found work}} at {n.Employer}.",
            $"{{These days|Today|For some years now}}, {n.Name} {{works|has worked}} at {n.Employer}.",
        })),
    };

    /// <summary>A document about one notable (drawn by popularity): a profile stating all four facts in random order,
    /// a short news item stating one or two, or an alumni note pairing the notable with a second one.</summary>
    internal static string Document(Rng r, PopularitySampler sampler)
    {
        var n = sampler.Draw(r);
        var keys = Attributes.Select(a => a.Key).ToList();
        r.Shuffle(keys);
        switch (r.Next(3))
        {
            case 0:
            {
                var lines = new List<string> { r.Vary($"{{Profile|A profile of|About}} {n.Name}") };
                lines.Add(string.Join(" ", keys.Select(k => Sentence(r, n, k))));
                lines.Add(r.Vary($"{{Friends say|Colleagues say|People say}} {n.Name} {{is generous|is hard to impress|never stops working|loves long walks}}."));
                return string.Join("\n", lines);
            }
            case 1:
            {
                var lines = new List<string>
                {
                    r.Vary($"{{News|In the news|Today's people}}: {n.Name}"),
                    r.Vary($"{n.Name} {{gave a talk|was seen|spoke to reporters|won an award}} {{this week|on {r.Pick(Lexicon.Weekdays)}|last month}}.") + " " +
                        string.Join(" ", keys.Take(r.Between(1, 2)).Select(k => Sentence(r, n, k))),
                };
                return string.Join("\n", lines);
            }
            default:
            {
                var m = sampler.Draw(r);
                var lines = new List<string> { r.Vary("{Two lives|Side by side|Notes on two people}") };
                lines.Add(Sentence(r, n, keys[0]) + " " + Sentence(r, n, keys[1]));
                if (m != n) lines.Add(Sentence(r, m, keys[2]) + " " + Sentence(r, m, keys[3]));
                return string.Join("\n", lines);
            }
        }
    }

    // ---- questions ----

    /// <summary>A question about one fact of a notable, answered in one sentence (the instruction family of the
    /// training half).</summary>
    internal static InstructionRecord Question(Rng r, Notable n)
    {
        var a = r.Pick(Attributes);
        return new InstructionRecord(a.Question(n), "", a.Answer(n, a.Of(n)));
    }

    /// <summary>Last ranks of the popularity tiers (1–50, 51–200, 201–800): three ranges of about equal width in log
    /// rank, from facts stated hundreds of times to facts stated two or three times.</summary>
    public static readonly IReadOnlyList<int> TierBounds = [50, 200];

    /// <summary>Every question about every held-out notable as a four-way multiple choice item whose choices are
    /// the answer sentence with the true value and three other values of the attribute. Each tier's questions are
    /// shuffled and the tiers taken in turn, so any prefix holds the tiers in equal parts — log-uniform over
    /// popularity, rather than nine tenths from the rarely mentioned tail a uniform draw of notables would give.</summary>
    public static IEnumerable<KnowledgeItem> HeldOutQuestions(IReadOnlyList<Notable> notables, int seed)
    {
        var r = Rng.For(seed, "knowledge");
        var tiers = new List<List<(Notable N, NotableAttribute A)>>();
        for (int t = 0, first = 1; t <= TierBounds.Count; t++)
        {
            int last = t < TierBounds.Count ? TierBounds[t] : int.MaxValue;
            var tier = notables.Where(n => n.IsHeldOut && n.Rank >= first && n.Rank <= last).SelectMany(n => Attributes.Select(a => (n, a))).ToList();
            r.Shuffle(tier);
            tiers.Add(tier);
            if (t < TierBounds.Count) first = last + 1;
        }
        for (int i = 0; tiers.Any(t => i < t.Count); i++)
            foreach (var tier in tiers)
            {
                if (i >= tier.Count) continue;
                var (n, a) = tier[i];
                string truth = a.Of(n);
                var values = r.Sample(a.Values.Where(v => v != truth).ToList(), 3);
                values.Insert(r.Next(4), truth);
                yield return new KnowledgeItem(a.Question(n), values.Select(v => a.Answer(n, v)).ToList(), values.IndexOf(truth), n.Rank, a.Key);
            }
    }

    private static string Capital(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}

/// <summary>A held-out knowledge question: the choices are full answer sentences (the format the instructions teach
/// on other notables); <see cref="Label"/> is the true one. Scored both as multiple choice (log-likelihood of each
/// answer after the chat-template prompt) and as exact-match generation (the greedy answer must equal the true
/// sentence). knowledge.jsonl: {"question", "choices", "label", "rank", "attribute"}.</summary>
public sealed record KnowledgeItem(string Question, IReadOnlyList<string> Choices, int Label, int Rank, string Attribute)
{
    public string Answer => Choices[Label];
}
