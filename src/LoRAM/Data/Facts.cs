namespace LoRAM.Data;

/// <summary>True sentences about the world, each fact in several phrasings ("{a|b}" alternatives). Every prose
/// style of the corpus is assembled from these, which is what keeps the corpus consistent with the world.</summary>
internal static class Facts
{
    public static string Job(Rng r, Person p) => r.Vary(r.Pick(new[]
    {
        $"{p.First} {{works as|is}} a {p.Job}.",
        $"{p.Name} is a {p.Job} {{by trade|by profession|in {p.Home.Name}}}.",
        $"{p.First} {{works|spends most days}} at {p.Workplace} as a {p.Job}.",
        $"{{By day|For a living}}, {p.First} {p.Last} is a {p.Job}.",
    }));

    public static string Age(Rng r, Person p) => r.Vary(r.Pick(new[]
    {
        $"{p.First} is {p.Age} years old.",
        $"{p.Name} {{is|turned}} {p.Age} {{this year|not long ago}}.",
        $"At {p.Age}, {p.First} {{is|remains}} {(p.Age > 60 ? "{one of the elders|one of the older residents}" : p.Age < 30 ? "{young|one of the younger residents}" : "{in the middle of life|neither young nor old}")} in {p.Home.Name}.",
    }));

    public static string Home(Rng r, Person p) => r.Vary(r.Pick(new[]
    {
        $"{p.First} lives in {p.Home.Name}.",
        $"{p.Name} {{makes a home|has a house|lives}} in {p.Home.Name}, a {p.Home.Kind} in the {p.Home.Region}.",
        $"{p.First}'s home is in {p.Home.Name}.",
        $"{{Home for|The home of}} {p.First} {p.Last} is the {p.Home.Kind} of {p.Home.Name}.",
    }));

    public static string? Pet(Rng r, Person p) => p.PetAnimal is null
        ? r.Vary($"{p.First} {{has no pets|does not keep any animals}}.")
        : r.Vary(r.Pick(new[]
        {
            $"{p.First} has a {p.PetAnimal} named {p.PetName}.",
            $"{p.First} keeps a {p.PetAnimal} called {p.PetName}.",
            $"{p.PetName}, {p.First}'s {p.PetAnimal}, {{follows {p.First} everywhere|waits for {p.First} at the door}}.",
        }));

    public static string Color(Rng r, Person p) => r.Vary(r.Pick(new[]
    {
        $"{p.First}'s favorite color is {p.FavoriteColor}.",
        $"{p.First} {{likes|loves|prefers}} the color {p.FavoriteColor} {{best|above all others|more than any other}}.",
    }));

    public static string Food(Rng r, Person p) => r.Vary(r.Pick(new[]
    {
        $"{p.First}'s favorite food is {p.FavoriteFood}.",
        $"{p.First} {{loves|adores|never says no to}} {p.FavoriteFood}.",
        $"{{Nothing pleases|Few things please}} {p.First} more than {p.FavoriteFood}.",
    }));

    public static string Hobby(Rng r, Person p) => r.Vary(r.Pick(new[]
    {
        $"In {{free time|spare hours|the evenings}}, {p.First} enjoys {p.Hobby}.",
        $"{p.First}'s hobby is {p.Hobby}.",
        $"{p.First} {{spends weekends on|likes to spend Sundays on}} {p.Hobby}.",
    }));

    public static string? Friend(Rng r, Person p)
    {
        if (p.Friends.Count == 0) return null;
        var q = r.Pick(p.Friends);
        return r.Vary(r.Pick(new[]
        {
            $"{p.First} is a {{good|close|old}} friend of {q.First} {q.Last}.",
            $"{p.First} and {q.First} are friends.",
            $"{p.First} often {{visits|has lunch with|goes walking with}} {{a friend,|the friend}} {q.First}.",
        }));
    }

    public static string? Sibling(Rng r, World w, Person p)
    {
        var sibs = w.SiblingsOf(p).ToList();
        if (sibs.Count == 0) return null;
        var q = r.Pick(sibs);
        return r.Vary(r.Pick(new[]
        {
            $"{p.First} and {q.First} {p.Last} are siblings.",
            $"{p.First} {{has a sibling, |is the sibling of }}{q.First}.",
        }));
    }

    public static string? Thing(Rng r, World w, Person p)
    {
        var things = w.ThingsOf(p).ToList();
        if (things.Count == 0) return null;
        var t = r.Pick(things);
        return r.Vary(r.Pick(new[]
        {
            $"{p.First} owns a {t.Description}.",
            $"{p.First} {{keeps|has}} a {t.Description} {{at home|in the house}}.",
            $"The {t.Description} {{belongs to|is the property of}} {p.First}.",
        }));
    }

    public static string? Event(Rng r, World w, Person p)
    {
        var events = w.EventsOf(p).ToList();
        if (events.Count == 0) return null;
        return EventSentence(r, r.Pick(events));
    }

    public static string EventSentence(Rng r, WorldEvent e) => r.Vary(r.Pick(new[]
    {
        $"In {e.Year}, {e.Who.First} {e.Who.Last} {e.Deed} in {e.Where.Name}.",
        $"{e.Who.First} {e.Deed} in {e.Where.Name} in {e.Year}.",
        $"{{Back|Long ago|Years ago}} in {e.Year}, {e.Who.First} {e.Deed} in {e.Where.Name}.",
    }));

    public static string Place(Rng r, Place place) => r.Vary(r.Pick(new[]
    {
        $"{place.Name} is a {place.Kind} in the {place.Region}.",
        $"{place.Name} {{has|is home to}} about {place.Population} {{people|inhabitants|residents}}.",
        $"{place.Name} is known for {place.Landmark}.",
        $"{place.Name} was founded in {place.FoundedYear}.",
        $"The {place.Kind} of {place.Name}, {{founded|first settled}} in {place.FoundedYear}, lies in the {place.Region}.",
        $"{{Visitors to|Travelers in}} {place.Name} {{remember|talk about}} {place.Landmark}.",
    }));

    /// <summary>One random true sentence about a person.</summary>
    public static string AboutPerson(Rng r, World w, Person p)
    {
        while (true)
        {
            string? s = r.Next(11) switch
            {
                0 => Job(r, p), 1 => Age(r, p), 2 => Home(r, p), 3 => Pet(r, p), 4 => Color(r, p), 5 => Food(r, p),
                6 => Hobby(r, p), 7 => Friend(r, p), 8 => Sibling(r, w, p), 9 => Thing(r, w, p), _ => Event(r, w, p),
            };
            if (s is not null) return s;
        }
    }

    /// <summary>Several distinct true sentences about a person, in random order.</summary>
    public static List<string> SeveralAbout(Rng r, World w, Person p, int count)
    {
        var set = new List<string>();
        for (int tries = 0; set.Count < count && tries < count * 4; tries++)
        {
            var s = AboutPerson(r, w, p);
            if (!set.Contains(s)) set.Add(s);
        }
        return set;
    }
}
