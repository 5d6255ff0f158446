using System.Text;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Llama.Tests.Tokenization;

/// <summary>Every text of the suite, through every reference tokenizer, gives exactly the ids and decoded text Hugging
/// Face's tokenizers library gives (fixtures/README.md says how those were computed).</summary>
public class TokenizerJsonReferenceTests
{
    public static TheoryData<string> Names => new(ReferenceTokenizers.Names);

    private static string Show(string s) => s.Length > 60 ? System.Text.Json.JsonSerializer.Serialize(s[..60]) + $"…({s.Length} chars)" : System.Text.Json.JsonSerializer.Serialize(s);

    private static string FirstDifference(int[] expected, int[] actual)
    {
        int i = 0;
        while (i < expected.Length && i < actual.Length && expected[i] == actual[i]) i++;
        string Around(int[] a) => string.Join(",", a.Skip(Math.Max(0, i - 2)).Take(6));
        return $"at {i}: expected …{Around(expected)}… ({expected.Length} ids), got …{Around(actual)}… ({actual.Length} ids)";
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Encode_with_and_without_special_tokens_equals_hugging_face(string name)
    {
        var expected = ReferenceTokenizers.Load(name);
        var texts = ReferenceTokenizers.Texts.Value;
        var t = ReferenceTokenizers.Tokenizer(name);
        var failures = new List<string>();
        for (int i = 0; i < texts.Length; i++)
        {
            var with = t.Encode(texts[i], addBos: true);
            var without = t.Encode(texts[i], addBos: false);
            if (!with.SequenceEqual(expected.Cases[i].With)) failures.Add($"text {i} {Show(texts[i])} with specials {FirstDifference(expected.Cases[i].With, with)}");
            if (!without.SequenceEqual(expected.Cases[i].Without)) failures.Add($"text {i} {Show(texts[i])} without specials {FirstDifference(expected.Cases[i].Without, without)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches:\n" + string.Join("\n", failures.Take(12)));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Decode_of_the_reference_ids_equals_hugging_face(string name)
    {
        var expected = ReferenceTokenizers.Load(name);
        var texts = ReferenceTokenizers.Texts.Value;
        var t = ReferenceTokenizers.Tokenizer(name);
        var failures = new List<string>();
        for (int i = 0; i < texts.Length; i++)
        {
            var decoded = t.Decode(expected.Cases[i].With);
            if (decoded != expected.Cases[i].Decoded) failures.Add($"text {i} {Show(texts[i])}: expected {Show(expected.Cases[i].Decoded)}, got {Show(decoded)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches:\n" + string.Join("\n", failures.Take(12)));
    }
}
