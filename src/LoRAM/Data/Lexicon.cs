namespace LoRAM.Data;

/// <summary>The fixed vocabulary the generated world is built from. A world draws its people, places and
/// things from these lists with a seed, so two seeds give two different worlds over the same words.</summary>
public static class Lexicon
{
    public static readonly IReadOnlyList<string> FirstNames =
    [
        "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Iris", "Jonas", "Karin", "Leo",
        "Mara", "Nils", "Olga", "Paul", "Rosa", "Simon", "Tara", "Umar", "Vera", "Walter", "Yara", "Zane",
        "Alma", "Bruno", "Cora", "Dario", "Edith", "Frank", "Gina", "Henrik", "Ida", "Jasper", "Lena", "Milo",
        "Nora", "Oscar", "Petra", "Quinn", "Ruth", "Theo", "Ursula", "Victor", "Wanda", "Xavier", "Ada", "Emil",
    ];

    public static readonly IReadOnlyList<string> Surnames =
    [
        "Berg", "Carter", "Dahl", "Ellis", "Fischer", "Gray", "Holm", "Irving", "Jensen", "Keller", "Lund",
        "Moreau", "Nolan", "Ortiz", "Price", "Quist", "Reyes", "Stone", "Tanaka", "Urban", "Vance", "Wolf",
        "Young", "Zeller", "Abbott", "Brandt", "Castillo", "Doyle", "Evans", "Frost", "Hale", "Kowalski",
    ];

    /// <summary>Jobs with the place where each is done, so sentences about work stay sensible.</summary>
    public static readonly IReadOnlyList<(string Job, string Workplace)> Jobs =
    [
        ("baker", "the bakery"), ("teacher", "the school"), ("carpenter", "the workshop"), ("nurse", "the hospital"),
        ("fisher", "the harbor"), ("farmer", "the fields"), ("librarian", "the library"), ("doctor", "the clinic"),
        ("painter", "the studio"), ("tailor", "the tailor shop"), ("blacksmith", "the forge"), ("gardener", "the park"),
        ("mechanic", "the garage"), ("pilot", "the airfield"), ("chef", "the restaurant"), ("potter", "the pottery"),
        ("musician", "the concert hall"), ("miller", "the mill"), ("shepherd", "the hills"), ("clerk", "the post office"),
    ];

    public static readonly IReadOnlyList<string> PlacePrefixes =
    [
        "Elm", "Oak", "Ash", "Stone", "River", "Mill", "Brook", "Fern", "Raven", "Silver", "Green", "Fox",
        "Wolf", "Thorn", "Marsh", "Cold", "High", "Bright", "Hazel", "Iron",
    ];

    public static readonly IReadOnlyList<string> PlaceSuffixes =
        ["ford", "field", "wick", "haven", "dale", "moor", "bury", "ton", "stead", "well", "gate", "by"];

    public static readonly IReadOnlyList<string> PlaceKinds = ["village", "town", "city"];

    public static readonly IReadOnlyList<string> Regions = ["north", "south", "east", "west", "hills", "lowlands"];

    public static readonly IReadOnlyList<string> Landmarks =
    [
        "an old stone bridge", "a busy market square", "a tall clock tower", "a quiet lake", "a ruined castle",
        "a lighthouse", "a windmill", "a large library", "a botanical garden", "a railway station",
        "a harbor full of boats", "a famous bakery", "a wide river", "a hilltop chapel", "an open-air theater",
    ];

    public static readonly IReadOnlyList<string> Animals =
        ["cat", "dog", "parrot", "rabbit", "horse", "goat", "tortoise", "hamster", "goose", "canary"];

    public static readonly IReadOnlyList<string> PetNames =
    [
        "Biscuit", "Pepper", "Mosi", "Rufus", "Luna", "Clover", "Ziggy", "Maple", "Pip", "Shadow", "Honey", "Otto",
    ];

    public static readonly IReadOnlyList<string> Colors =
        ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "brown", "gray"];

    public static readonly IReadOnlyList<string> Foods =
    [
        "apple pie", "fish soup", "rye bread", "plum cake", "roast potatoes", "lentil stew", "honey cakes",
        "cheese", "pancakes", "mushroom soup", "pear tart", "rice pudding",
    ];

    public static readonly IReadOnlyList<string> Hobbies =
    [
        "chess", "sailing", "painting", "birdwatching", "gardening", "singing", "running", "knitting",
        "woodcarving", "reading old maps", "playing the violin", "baking bread",
    ];

    public static readonly IReadOnlyList<string> Materials = ["wooden", "iron", "glass", "leather", "clay", "silver", "woolen"];

    public static readonly IReadOnlyList<string> ThingKinds =
    [
        "chair", "lamp", "boat", "clock", "bicycle", "kettle", "violin", "chest", "telescope", "map", "bell", "cart",
    ];

    /// <summary>Things that happen in the world: a verb phrase that takes "in PLACE" after it.</summary>
    public static readonly IReadOnlyList<string> Deeds =
    [
        "opened a small bakery", "won the autumn boat race", "planted an orchard", "built a bridge",
        "founded a choir", "painted a mural", "repaired the old clock tower", "started a market",
        "wrote a book about birds", "organized a harvest festival", "rescued a lost goat", "found an old coin",
    ];

    /// <summary>Countable things for word problems (plural, singular).</summary>
    public static readonly IReadOnlyList<(string Plural, string Singular)> Countables =
    [
        ("apples", "apple"), ("marbles", "marble"), ("books", "book"), ("pencils", "pencil"), ("eggs", "egg"),
        ("stamps", "stamp"), ("cookies", "cookie"), ("shells", "shell"), ("cards", "card"), ("oranges", "orange"),
        ("flowers", "flower"), ("coins", "coin"),
    ];

    public static readonly IReadOnlyList<string> Containers = ["boxes", "bags", "baskets", "crates", "jars", "packs"];

    public static readonly IReadOnlyList<string> Weekdays =
        ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

    public static readonly IReadOnlyList<string> NumberWords =
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    ];
}
