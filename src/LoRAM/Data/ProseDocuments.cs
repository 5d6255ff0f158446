namespace LoRAM.Data;

/// <summary>The prose half of the corpus (the FineWeb analog): documents in eight styles — encyclopedia entry,
/// town guide, story, letter, news report, interview, diary, list article — each built from true sentences
/// about the world (<see cref="Facts"/>) joined by varied connecting text. Paragraphs are separated by a single
/// newline; a document never contains a blank line (blank lines separate documents in corpus.txt).</summary>
internal static class ProseDocuments
{
    public const int Styles = 8;

    public static string Generate(Rng r, World w) => r.Next(Styles) switch
    {
        0 => Encyclopedia(r, w),
        1 => TownGuide(r, w),
        2 => Story(r, w),
        3 => Letter(r, w),
        4 => News(r, w),
        5 => Interview(r, w),
        6 => Diary(r, w),
        _ => ListArticle(r, w),
    };

    private static string Encyclopedia(Rng r, World w)
    {
        var p = r.Pick(w.People);
        var lines = new List<string> { p.Name };
        lines.Add(r.Vary($"{p.Name} is a {p.Job} {{from|living in}} {p.Home.Name}. ") + string.Join(" ", Facts.SeveralAbout(r, w, p, r.Between(3, 5))));
        var events = w.EventsOf(p).ToList();
        if (events.Count > 0)
            lines.Add(r.Vary("{Life and work|Notable events|History}: ") + string.Join(" ", events.Select(e => Facts.EventSentence(r, e))));
        lines.Add(r.Vary("{Personal life|Family and friends|Outside of work}: ") + string.Join(" ", Facts.SeveralAbout(r, w, p, r.Between(2, 4))));
        return string.Join("\n", lines);
    }

    private static string TownGuide(Rng r, World w)
    {
        var place = r.Pick(w.Places);
        var lines = new List<string>
        {
            r.Vary($"{{A short guide to|Visiting|Welcome to}} {place.Name}"),
            string.Join(" ", Enumerable.Range(0, r.Between(2, 4)).Select(_ => Facts.Place(r, place)).Distinct()),
        };
        var residents = w.LivingIn(place).ToList();
        if (residents.Count > 0)
        {
            var shown = r.Sample(residents, r.Between(1, 3));
            lines.Add(r.Vary("{Among the people who live here are|Some of the locals are|Residents you may meet include} ") +
                string.Join(", ", shown.Select(s => $"{s.Name} the {s.Job}")) + ".");
            foreach (var s in shown) lines.Add(Facts.AboutPerson(r, w, s));
        }
        var here = w.Events.Where(e => e.Where == place).ToList();
        if (here.Count > 0) lines.Add(r.Vary("{Local history|In the town records|Old news}: ") + Facts.EventSentence(r, r.Pick(here)));
        return string.Join("\n", lines);
    }

    private static string Story(Rng r, World w)
    {
        var p = r.Pick(w.People);
        string day = r.Pick(Lexicon.Weekdays);
        var lines = new List<string>
        {
            r.Vary($"{{One|On a}} {{cold|bright|rainy|quiet}} {day} {{morning|evening|afternoon}}, {p.First} {{walked|went}} to {p.Workplace} in {p.Home.Name}."),
            Facts.Job(r, p) + " " + Facts.AboutPerson(r, w, p),
        };
        if (p.Friends.Count > 0)
        {
            var q = r.Pick(p.Friends);
            lines.Add(r.Vary($"{{On the way|Near the market|At the corner}}, {p.First} {{met|ran into|saw}} {q.First}, {{a|an old}} friend who {{works as|is}} a {q.Job}."));
            lines.Add(r.Vary($"\"{{How is|What news from}} {q.Home.Name}?\" {p.First} asked. {q.First} {{smiled|laughed|nodded}} and {{talked about|spoke of}} {q.Home.Landmark}."));
        }
        if (p.PetAnimal is not null)
            lines.Add(r.Vary($"{p.PetName} the {p.PetAnimal} {{was waiting|sat waiting}} at home{{ when evening came|, as always| by the door}}."));
        lines.Add(r.Vary($"{{That night|Later}}, {p.First} {{ate|cooked}} {p.FavoriteFood} and {{thought about|planned}} {{the week ahead|tomorrow}}."));
        return string.Join("\n", lines);
    }

    private static string Letter(Rng r, World w)
    {
        var p = r.Pick(w.People);
        var q = p.Friends.Count > 0 ? r.Pick(p.Friends) : r.Pick(w.People.Where(x => x != p).ToList());
        var lines = new List<string>
        {
            r.Vary($"{{Dear|My dear|Hello}} {q.First},"),
            r.Vary($"{{I hope this letter finds you well|It has been too long since I wrote|Thank you for your last letter}}. Life in {p.Home.Name} is {{busy|quiet|much the same}}."),
            "I" + r.Vary(" {am still|still work as} a ") + p.Job + r.Vary(" {at|near} ") + p.Workplace + ". " +
                (p.PetAnimal is null ? "" : r.Vary($"{p.PetName} {{sends greetings|is well}}. ")) +
                r.Vary($"I {{still|now}} {{love|eat a lot of}} {p.FavoriteFood}."),
            Facts.AboutPerson(r, w, q),
            r.Vary($"{{Write soon|With warm wishes|Yours}},"),
            p.First,
        };
        return string.Join("\n", lines);
    }

    private static string News(Rng r, World w)
    {
        if (w.Events.Count == 0) return Encyclopedia(r, w);
        var e = r.Pick(w.Events);
        var p = e.Who;
        var lines = new List<string>
        {
            $"{e.Where.Name.ToUpperInvariant()} ({e.Year}) - " + r.Vary($"{p.Name}, {{a|the}} {p.Age - (2025 - e.Year)}-year-old {p.Job}, {e.Deed} {{this week|on {r.Pick(Lexicon.Weekdays)}}}."),
            r.Vary($"\"{{It was a good day|We are very proud|Nobody expected it}},\" said a {{neighbor|friend|local resident}}."),
            Facts.Place(r, e.Where),
            r.Vary($"{p.First}, who {{lives|grew up}} in {p.Home.Name}, {{plans to|hopes to}} {{do more|continue}} {{next year|soon}}."),
        };
        return string.Join("\n", lines);
    }

    private static string Interview(Rng r, World w)
    {
        var p = r.Pick(w.People);
        var lines = new List<string>
        {
            r.Vary($"{{An interview with|Meet|Talking with}} {p.Name}"),
            r.Vary("Q: {What do you do|What is your work}?"), $"A: I am a {p.Job}. I work at {p.Workplace}.",
            r.Vary("Q: {Where do you live|Where is home}?"), r.Vary($"A: In {p.Home.Name}. {{It is|It's}} a {p.Home.Kind} known for {p.Home.Landmark}."),
            "Q: How old are you?", $"A: I am {p.Age}.",
            r.Vary("Q: {What do you like to eat|What is your favorite food}?"), $"A: {Capital(p.FavoriteFood)}, without a doubt.",
        };
        if (p.Friends.Count > 0)
        {
            lines.Add(r.Vary("Q: {Who are your friends|Who do you spend time with}?"));
            lines.Add("A: " + string.Join(" and ", p.Friends.Select(f => f.First)) + ".");
        }
        return string.Join("\n", lines);
    }

    private static string Diary(Rng r, World w)
    {
        var p = r.Pick(w.People);
        var lines = new List<string>
        {
            r.Vary($"{r.Pick(Lexicon.Weekdays)}. {{Dear diary|Notes for today|Today}}."),
            r.Vary($"{{Worked|Spent the day}} at {p.Workplace} again. {{Being|Life as}} a {p.Job} {{is tiring|keeps me busy|suits me}}."),
            r.Vary($"{{In the evening|After work}} there was time for {p.Hobby}{{, as usual|, which calms me|}}."),
        };
        if (p.PetAnimal is not null) lines.Add(r.Vary($"{p.PetName} {{was hungry|slept all day|wanted to play}}."));
        if (p.Friends.Count > 0) lines.Add(r.Vary($"{{Had a letter from|Saw}} {r.Pick(p.Friends).First}."));
        lines.Add(r.Vary($"- {p.First}, {p.Home.Name}"));
        return string.Join("\n", lines);
    }

    private static string ListArticle(Rng r, World w)
    {
        bool aboutPlace = r.Chance(0.5);
        var lines = new List<string>();
        if (aboutPlace)
        {
            var place = r.Pick(w.Places);
            var facts = Enumerable.Range(0, 8).Select(_ => Facts.Place(r, place)).Distinct().Take(4).ToList();
            lines.Add($"{facts.Count} {r.Vary("{facts|things to know}")} about {place.Name}");
            lines.AddRange(facts.Select((f, i) => $"{i + 1}. {f}"));
        }
        else
        {
            var p = r.Pick(w.People);
            var facts = Facts.SeveralAbout(r, w, p, r.Between(3, 6));
            lines.Add($"{facts.Count} {r.Vary("{facts|things you may not know}")} about {p.Name}");
            lines.AddRange(facts.Select((f, i) => $"{i + 1}. {f}"));
        }
        return string.Join("\n", lines);
    }

    private static string Capital(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];
}
