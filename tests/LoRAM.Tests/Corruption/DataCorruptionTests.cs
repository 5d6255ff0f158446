using System.Text;
using LoRAM.Data;
using LoRAM.Evaluation;
using LoRAM.Llama.Tests.Support;

namespace LoRAM.Tests.Corruption;

/// <summary>
/// Generated corruptions of the data files the tool reads — Alpaca, ShareGPT, GSM8K and multiple-choice JSONL, plain
/// text corpora and token-id files. Each starts from a valid three-record file and breaks one line or one field; the
/// loader must fail with a one-line <see cref="UserInputException"/> reading "file:line: ..." and naming the field.
/// </summary>
public sealed class DataCorruptionTests
{
    /// <summary>A corruption: which loader reads it, the corrupt bytes, the line the message must name (null: the file
    /// as a whole), and what else it must mention.</summary>
    public sealed record Case(string Format, byte[] Bytes, int? Line, string[] Mentions);

    private static readonly Dictionary<string, Func<string, object>> Loaders = new()
    {
        ["alpaca"] = AlpacaFile.Load,
        ["sharegpt"] = ShareGptFile.Load,
        ["gsm8k"] = Gsm8kFile.Load,
        ["mc"] = MultipleChoiceFile.Load,
        ["corpus"] = p => PlainTextCorpus.Load(p),
        ["tokens"] = p => TokenFile.Read(p, vocabSize: 259),
    };

    /// <summary>Three valid records per JSONL format; corruptions replace the second.</summary>
    private static readonly Dictionary<string, string[]> Valid = new()
    {
        ["alpaca"] =
        [
            """{"instruction": "Add 2 and 3.", "input": "", "output": "5"}""",
            """{"instruction": "Name the capital.", "input": "Ulmar is a country.", "output": "Ostra"}""",
            """{"instruction": "Say hi.", "output": "hi"}""",
        ],
        ["sharegpt"] =
        [
            """{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}""",
            """{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]}""",
            """{"conversations": [{"from": "user", "value": "Bye"}, {"from": "assistant", "value": "Bye"}]}""",
        ],
        ["gsm8k"] =
        [
            """{"question": "Tom has 2 apples and buys 3. How many?", "answer": "2 + 3 = 5\n#### 5"}""",
            """{"question": "Ann has 10 pens and loses 4. How many?", "answer": "10 - 4 = 6\n#### 6"}""",
            """{"question": "3 boxes of 4 eggs?", "answer": "3 * 4 = 12\n#### 12"}""",
        ],
        ["mc"] =
        [
            """{"question": "Where does Ada live?", "choices": ["Ostra", "Belm", "Cadr", "Dun"], "label": 0}""",
            """{"question": "What does Bo do?", "choices": ["baker", "smith"], "label": 1}""",
            """{"question": "Who is older?", "choices": ["Ada", "Bo", "Cy"], "label": 2}""",
        ],
    };

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>The valid file of <paramref name="format"/> with its second line replaced.</summary>
    private static Case Line2(string format, string line, params string[] mentions) =>
        new(format, Utf8(string.Join('\n', Valid[format][0], line, Valid[format][2]) + "\n"), 2, mentions);

    private static Case Line2Bytes(string format, byte[] line, params string[] mentions) =>
        new(format, [.. Utf8(Valid[format][0] + "\n"), .. line, .. Utf8("\n" + Valid[format][2] + "\n")], 2, mentions);

    public static readonly IReadOnlyDictionary<string, Case> Cases = Build();

    private static Dictionary<string, Case> Build()
    {
        var c = new Dictionary<string, Case>();
        foreach (var f in Valid.Keys)
        {
            var good = Valid[f][1];
            // A record that is not a JSON object.
            c[$"{f}_line_cut_short"] = Line2(f, good[..^5], "not valid JSON");
            c[$"{f}_line_is_an_array"] = Line2(f, "[1, 2]", "expected a JSON object", "an array");
            c[$"{f}_line_is_a_string"] = Line2(f, "\"text\"", "expected a JSON object", "a string");
            c[$"{f}_line_is_a_number"] = Line2(f, "42", "expected a JSON object", "a number");
            c[$"{f}_line_is_null"] = Line2(f, "null", "expected a JSON object", "null");
            c[$"{f}_line_with_single_quotes"] = Line2(f, good.Replace('"', '\''), "not valid JSON");
            c[$"{f}_line_holds_two_objects"] = Line2(f, good + good, "not valid JSON");
            c[$"{f}_line_with_a_key_twice"] = Line2(f, good[..^1] + ", " + good[1..], "not valid JSON");
            c[$"{f}_line_not_utf8"] = Line2Bytes(f, [.. Utf8(good[..10]), 0xC3, 0x28, .. Utf8(good[10..])], "UTF-8");
            c[$"{f}_line_of_control_bytes"] = Line2Bytes(f, [0, 1, 2, 3, 0x1B], "not valid JSON");
            // Valid JSON syntax, invalid text: half a surrogate pair, in a value and in a key (JsonDocument accepts both
            // and threw InvalidOperationException when the string was read: an internal error, exit 1).
            int at = good.IndexOf("\": \"", StringComparison.Ordinal) + 4;
            c[$"{f}_lone_high_surrogate_in_a_value"] = Line2(f, good[..at] + "\\ud800" + good[at..], "unpaired surrogate");
            c[$"{f}_lone_low_surrogate_in_a_key"] = Line2(f, "{\"\\udc00x\": 1, " + good[1..], "unpaired surrogate", "property name");
            c[$"{f}_reversed_surrogate_pair"] = Line2(f, good[..at] + "\\udc00\\ud800" + good[at..], "unpaired surrogate");
            // Whole-file problems.
            c[$"{f}_empty_file"] = new(f, [], null, ["no records"]);
            c[$"{f}_only_blank_lines"] = new(f, Utf8("\n  \n\t\n"), null, ["no records"]);
            // A file cut off in the middle of each record names that record's line.
            for (int line = 1; line <= 3; line++)
            {
                var prefix = string.Join('\n', Valid[f].Take(line - 1).Append(Valid[f][line - 1][..(Valid[f][line - 1].Length / 2)]));
                c[$"{f}_file_cut_in_line_{line}"] = new(f, Utf8(prefix), line, ["not valid JSON"]);
            }
        }

        // Alpaca fields.
        foreach (var field in new[] { "instruction", "output" })
        {
            c[$"alpaca_{field}_missing"] = Line2("alpaca", field == "instruction" ? """{"input": "", "output": "5"}""" : """{"instruction": "Say hi.", "input": ""}""", $"missing field \"{field}\"");
            c[$"alpaca_{field}_a_number"] = Line2("alpaca", Valid["alpaca"][1].Replace($"\"{field}\": \"", $"\"{field}\": 7, \"x\": \""), $"\"{field}\"", "a number");
            c[$"alpaca_{field}_null"] = Line2("alpaca", Valid["alpaca"][1].Replace($"\"{field}\": \"", $"\"{field}\": null, \"x\": \""), $"\"{field}\"", "null");
            c[$"alpaca_{field}_empty"] = Line2("alpaca", Valid["alpaca"][1].Replace($"\"{field}\": \"", $"\"{field}\": \"\", \"x\": \""), $"\"{field}\" is empty");
        }
        c["alpaca_output_only_white_space"] = Line2("alpaca", """{"instruction": "Say hi.", "output": "  \n "}""", "\"output\" is empty");
        c["alpaca_input_an_array"] = Line2("alpaca", """{"instruction": "Say hi.", "input": ["a"], "output": "hi"}""", "\"input\"", "an array");

        // ShareGPT fields.
        c["sharegpt_conversations_missing"] = Line2("sharegpt", """{"messages": []}""", "\"conversations\"");
        c["sharegpt_conversations_a_string"] = Line2("sharegpt", """{"conversations": "Hi"}""", "\"conversations\"", "a string");
        c["sharegpt_turn_not_an_object"] = Line2("sharegpt", """{"conversations": ["Hi", "Hello"]}""", "conversations[0]");
        c["sharegpt_turn_without_from"] = Line2("sharegpt", """{"conversations": [{"value": "Hi"}]}""", "\"from\"");
        c["sharegpt_turn_value_a_number"] = Line2("sharegpt", """{"conversations": [{"from": "human", "value": 5}]}""", "\"value\"", "a number");
        c["sharegpt_turn_from_unknown"] = Line2("sharegpt", """{"conversations": [{"from": "robot", "value": "Hi"}]}""", "conversations[0]", "robot");
        c["sharegpt_gpt_before_any_human"] = Line2("sharegpt", """{"conversations": [{"from": "gpt", "value": "Hi"}]}""", "conversations[0]", "no \"human\"");
        c["sharegpt_gpt_reply_empty"] = Line2("sharegpt", """{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": ""}]}""", "conversations[1]", "empty");
        c["sharegpt_no_gpt_turn"] = Line2("sharegpt", """{"conversations": [{"from": "human", "value": "Hi"}]}""", "no \"gpt\" turn");
        c["sharegpt_empty_conversation"] = Line2("sharegpt", """{"conversations": []}""", "no \"gpt\" turn");

        // GSM8K fields.
        c["gsm8k_question_missing"] = Line2("gsm8k", """{"answer": "#### 5"}""", "missing field \"question\"");
        c["gsm8k_question_empty"] = Line2("gsm8k", """{"question": " ", "answer": "#### 5"}""", "\"question\" is empty");
        c["gsm8k_question_an_object"] = Line2("gsm8k", """{"question": {"text": "?"}, "answer": "#### 5"}""", "\"question\"", "an object");
        c["gsm8k_answer_missing"] = Line2("gsm8k", """{"question": "How many?"}""", "missing field \"answer\"");
        c["gsm8k_answer_a_number"] = Line2("gsm8k", """{"question": "How many?", "answer": 5}""", "\"answer\"", "a number");
        c["gsm8k_answer_without_final_number"] = Line2("gsm8k", """{"question": "How many?", "answer": "five"}""", "\"answer\"", "####");

        // Multiple-choice fields.
        c["mc_question_missing"] = Line2("mc", """{"choices": ["a", "b"], "label": 0}""", "missing field \"question\"");
        c["mc_question_empty"] = Line2("mc", """{"question": "", "choices": ["a", "b"], "label": 0}""", "\"question\" is empty");
        c["mc_choices_missing"] = Line2("mc", """{"question": "Q?", "label": 0}""", "\"choices\"");
        c["mc_choices_a_string"] = Line2("mc", """{"question": "Q?", "choices": "a b", "label": 0}""", "\"choices\"");
        c["mc_choices_of_numbers"] = Line2("mc", """{"question": "Q?", "choices": [1, 2], "label": 0}""", "\"choices\"", "a number");
        c["mc_only_one_choice"] = Line2("mc", """{"question": "Q?", "choices": ["a"], "label": 0}""", "\"choices\"", "at least 2");
        c["mc_label_missing"] = Line2("mc", """{"question": "Q?", "choices": ["a", "b"]}""", "\"label\"");
        c["mc_label_a_string"] = Line2("mc", """{"question": "Q?", "choices": ["a", "b"], "label": "1"}""", "\"label\"");
        c["mc_label_fractional"] = Line2("mc", """{"question": "Q?", "choices": ["a", "b"], "label": 0.5}""", "\"label\"");
        c["mc_label_past_the_choices"] = Line2("mc", """{"question": "Q?", "choices": ["a", "b"], "label": 2}""", "\"label\" 2", "0..1");
        c["mc_label_negative"] = Line2("mc", """{"question": "Q?", "choices": ["a", "b"], "label": -1}""", "\"label\" -1");

        // Plain-text corpora.
        c["corpus_empty_file"] = new("corpus", [], null, ["no documents"]);
        c["corpus_only_blank_lines"] = new("corpus", Utf8("\n \n\n"), null, ["no documents"]);
        c["corpus_line_3_not_utf8"] = new("corpus", [.. Utf8("one\n\ntwo"), 0xFF, .. Utf8("\n")], 3, ["UTF-8"]);
        c["corpus_utf16_file"] = new("corpus", [0xFF, 0xFE, .. Encoding.Unicode.GetBytes("text")], 1, ["UTF-8"]);

        // Token-id files (vocabulary of 259).
        c["tokens_a_word"] = new("tokens", Utf8("1 2 3\n4 five 6\n"), 2, ["'five'"]);
        c["tokens_negative_id"] = new("tokens", Utf8("1 2 3\n4 -5 6\n"), 2, ["-5", "[0, 259)"]);
        c["tokens_id_past_the_vocabulary"] = new("tokens", Utf8("1 2 259\n"), 1, ["259", "[0, 259)"]);
        c["tokens_id_beyond_int32"] = new("tokens", Utf8("# ids\n1 99999999999\n"), 2, ["99999999999"]);
        c["tokens_fractional_id"] = new("tokens", Utf8("1.5 2\n"), 1, ["'1.5'"]);
        c["tokens_single_token_sequence"] = new("tokens", Utf8("1 2\n7\n"), 2, ["at least 2"]);
        c["tokens_only_comments"] = new("tokens", Utf8("# nothing\n\n"), null, ["no token sequences"]);
        c["tokens_empty_file"] = new("tokens", [], null, ["no token sequences"]);
        return c;
    }

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Corrupt_data_fails_with_one_line_naming_the_file_the_line_and_the_field(string name)
    {
        var (format, bytes, line, mentions) = Cases[name];
        using var dir = new TempFolder("loram-corrupt-data");
        var path = dir.File(format + ".txt");
        File.WriteAllBytes(path, bytes);
        var message = Rejection.Expect<UserInputException>(() => Loaders[format](path), mentions);
        Assert.StartsWith(line is int l ? $"{path}:{l}: " : $"{path}: ", message);
    }

    /// <summary>A surrogate pair written as two escapes is one valid character (U+1F600) and must load.</summary>
    [Fact]
    public void A_proper_surrogate_pair_escape_loads()
    {
        using var dir = new TempFolder("loram-corrupt-data");
        var path = dir.File("alpaca.jsonl");
        File.WriteAllText(path, """{"instruction": "Smile \ud83d\ude00", "output": "ok"}""" + "\n");
        Assert.Equal("Smile \U0001F600", AlpacaFile.Load(path)[0].Instruction);
    }

    /// <summary>
    /// A file that is one 70 MB line (no line break at all) is refused at the 64 MiB cap, naming the file and line 1,
    /// by each line reader: JSONL, plain-text corpus, token ids. Budget per reader: ≤ 200 MB allocated on the reading
    /// thread (the line buffer grows by doubling to 64 MiB: ≤ 128 MiB in all) and ≤ 20 s on a shared 2-vCPU machine.
    /// (A >2 GB line used to run 42 s to 8.4 GB, then fail with ArgumentOutOfRangeException, exit 1.)
    /// </summary>
    [Theory]
    [InlineData("alpaca")]
    [InlineData("corpus")]
    [InlineData("tokens")]
    public void A_line_longer_than_the_cap_is_refused_while_reading(string format)
    {
        using var dir = new TempFolder("loram-long-line");
        var path = dir.File(format + ".txt");
        using (var f = new FileStream(path, FileMode.Create))
        {
            f.Write(Utf8(format == "alpaca" ? "{\"instruction\": \"" : ""));
            var chunk = Utf8(new string(format == "tokens" ? '7' : 'a', 1 << 20));
            if (format == "tokens") for (int i = 1; i < chunk.Length; i += 2) chunk[i] = (byte)' ';
            for (int i = 0; i < 70; i++) f.Write(chunk);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<UserInputException>(() => Loaders[format](path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Rejection.AssertOneLine(error.Message);
        Assert.StartsWith($"{path}:1: ", error.Message);
        Assert.Contains("64 MiB", error.Message);
        Assert.True(allocated <= 200_000_000, $"allocated {allocated / 1e6:F0} MB, bound 200 MB");
        Assert.True(clock.Elapsed.TotalSeconds <= 20, $"took {clock.Elapsed.TotalSeconds:F1} s, bound 20 s");
    }

    public static TheoryData<string> Formats => new(Loaders.Keys);

    [Theory]
    [MemberData(nameof(Formats))]
    public void The_uncorrupted_files_load_and_missing_ones_are_named(string format)
    {
        using var dir = new TempFolder("loram-corrupt-data");
        var path = dir.File(format + ".txt");
        File.WriteAllText(path, Valid.TryGetValue(format, out var lines) ? string.Join('\n', lines) : format == "tokens" ? "1 2 3\n" : "a document\n");
        Assert.NotNull(Loaders[format](path));
        var missing = dir.File("missing.jsonl");
        Rejection.Expect<UserInputException>(() => Loaders[format](missing), missing);
        Rejection.Expect<UserInputException>(() => Loaders[format](dir.Path), dir.Path);   // a folder where a file belongs
    }
}
