namespace LoRAM.Data;

/// <summary>A person of the generated world. First names are unique within a world, so "Anna" alone is unambiguous.
/// A class, not a record: friends refer to each other, and value equality would recurse.</summary>
public sealed class Person(
    string first, string last, int age, string job, string workplace, Place home,
    string? petAnimal, string? petName, string favoriteColor, string favoriteFood, string hobby)
{
    public string First { get; } = first;
    public string Last { get; } = last;
    public int Age { get; } = age;
    public string Job { get; } = job;
    /// <summary>Where the job is done: "the bakery".</summary>
    public string Workplace { get; } = workplace;
    public Place Home { get; } = home;
    public string? PetAnimal { get; } = petAnimal;
    public string? PetName { get; } = petName;
    public string FavoriteColor { get; } = favoriteColor;
    public string FavoriteFood { get; } = favoriteFood;
    public string Hobby { get; } = hobby;
    public string Name => $"{First} {Last}";
    public List<Person> Friends { get; } = [];
    public override string ToString() => Name;
}

/// <summary>A village, town or city of the world.</summary>
public sealed record Place(string Name, string Kind, string Region, int Population, string Landmark, int FoundedYear)
{
    public override string ToString() => Name;
}

/// <summary>Something a person owns: "a red wooden chair".</summary>
public sealed record Thing(Person Owner, string Color, string Material, string Kind)
{
    public string Description => $"{Color} {Material} {Kind}";
}

/// <summary>Something that happened: who did what, where and when.</summary>
public sealed record WorldEvent(Person Who, string Deed, Place Where, int Year);

/// <summary>A seeded imaginary world — people with jobs, ages, homes, pets and friends, places, things and events.
/// Every generated text (corpus, instructions, evaluation questions) states facts of one world, so a model
/// trained on the corpus can answer the questions about it: the analog of the world knowledge that
/// commonsense benchmarks probe. Siblings share a surname; friendship is symmetric.</summary>
public sealed class World
{
    public int Seed { get; }
    public IReadOnlyList<Person> People { get; }
    public IReadOnlyList<Place> Places { get; }
    public IReadOnlyList<Thing> Things { get; }
    public IReadOnlyList<WorldEvent> Events { get; }
    /// <summary>The well-known people whose facts only pre-training teaches (<see cref="Data.Notables"/>), in rank order.</summary>
    public IReadOnlyList<Notable> Notables { get; }

    private World(int seed, List<Person> people, List<Place> places, List<Thing> things, List<WorldEvent> events)
    {
        Seed = seed; People = people; Places = places; Things = things; Events = events;
        Notables = Data.Notables.Generate(seed);
    }

    /// <summary>The world of a seed; the same seed and sizes always give the same world.</summary>
    public static World Generate(int seed, int people = 36, int places = 10)
    {
        if (people < 4 || people > Lexicon.FirstNames.Count)
            throw new ArgumentOutOfRangeException(nameof(people), $"between 4 and {Lexicon.FirstNames.Count}");
        if (places < 2 || places > Lexicon.PlacePrefixes.Count)
            throw new ArgumentOutOfRangeException(nameof(places), $"between 2 and {Lexicon.PlacePrefixes.Count}");
        var rng = Rng.For(seed, "world");

        var placeList = new List<Place>();
        var prefixes = rng.Sample(Lexicon.PlacePrefixes, places);
        foreach (var prefix in prefixes)
        {
            string kind = rng.Pick(Lexicon.PlaceKinds);
            int population = kind switch
            {
                "village" => rng.Between(2, 19) * 100,
                "town" => rng.Between(3, 40) * 1000,
                _ => rng.Between(50, 900) * 1000,
            };
            placeList.Add(new Place(prefix + rng.Pick(Lexicon.PlaceSuffixes), kind, rng.Pick(Lexicon.Regions),
                population, rng.Pick(Lexicon.Landmarks), rng.Between(1100, 1900)));
        }

        // A small pool of surnames makes some people share one: they are siblings.
        var surnames = rng.Sample(Lexicon.Surnames, Math.Max(2, people * 2 / 3));
        var personList = new List<Person>();
        foreach (var first in rng.Sample(Lexicon.FirstNames, people))
        {
            var (job, workplace) = rng.Pick(Lexicon.Jobs);
            bool hasPet = rng.Chance(0.7);
            personList.Add(new Person(first, rng.Pick(surnames), rng.Between(18, 84), job, workplace,
                rng.Pick(placeList), hasPet ? rng.Pick(Lexicon.Animals) : null, hasPet ? rng.Pick(Lexicon.PetNames) : null,
                rng.Pick(Lexicon.Colors), rng.Pick(Lexicon.Foods), rng.Pick(Lexicon.Hobbies)));
        }

        foreach (var p in personList)
        {
            int want = rng.Between(1, 2);
            for (int tries = 0; p.Friends.Count < want && tries < 10; tries++)
            {
                var q = rng.Pick(personList);
                if (q == p || p.Friends.Contains(q) || q.Friends.Count >= 3) continue;
                p.Friends.Add(q);
                q.Friends.Add(p);
            }
        }

        var things = new List<Thing>();
        var events = new List<WorldEvent>();
        foreach (var p in personList)
        {
            foreach (var kind in rng.Sample(Lexicon.ThingKinds, rng.Between(1, 2)))
                things.Add(new Thing(p, rng.Pick(Lexicon.Colors), rng.Pick(Lexicon.Materials), kind));
            int n = rng.Between(0, 2);
            for (int i = 0; i < n; i++)
                events.Add(new WorldEvent(p, rng.Pick(Lexicon.Deeds), rng.Chance(0.6) ? p.Home : rng.Pick(placeList),
                    2025 - rng.Between(1, Math.Max(1, p.Age - 16))));
        }
        return new World(seed, personList, placeList, things, events);
    }

    public IEnumerable<Person> SiblingsOf(Person p) => People.Where(q => q != p && q.Last == p.Last);
    public IEnumerable<Person> LivingIn(Place place) => People.Where(q => q.Home == place);
    public IEnumerable<Thing> ThingsOf(Person p) => Things.Where(t => t.Owner == p);
    public IEnumerable<WorldEvent> EventsOf(Person p) => Events.Where(e => e.Who == p);
}
