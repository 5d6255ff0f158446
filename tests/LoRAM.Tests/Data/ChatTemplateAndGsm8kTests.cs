using LoRAM.Data;

namespace LoRAM.Tests.Data;

public class ChatTemplateAndGsm8kTests
{
    [Fact]
    public void Prompt_with_input_is_the_alpaca_layout_exactly()
    {
        Assert.Equal(
            "Below is an instruction that describes a task, paired with an input that provides further context. " +
            "Write a response that appropriately completes the request.\n\n" +
            "### Instruction:\nSort the numbers.\n\n### Input:\n3, 1, 2\n\n### Response:\n",
            ChatTemplate.Prompt("Sort the numbers.", "3, 1, 2"));
    }

    [Fact]
    public void Prompt_without_input_leaves_out_the_input_section()
    {
        const string expected =
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n" +
            "### Instruction:\nWhat is 2 + 2?\n\n### Response:\n";
        Assert.Equal(expected, ChatTemplate.Prompt("What is 2 + 2?"));
        Assert.Equal(expected, ChatTemplate.Prompt("What is 2 + 2?", "  "));
        Assert.EndsWith("### Response:\n", ChatTemplate.Prompt("x", "y"));
    }

    [Fact]
    public void Records_become_examples_through_the_same_template()
    {
        var r = new InstructionRecord("What is 2 + 2?", "", "2 + 2 = 4");
        Assert.Equal(new InstructionExample(ChatTemplate.Prompt("What is 2 + 2?"), "2 + 2 = 4"), r.ToExample());
        Assert.Equal(ChatTemplate.Prompt("What is 2 + 2?") + "2 + 2 = 4", r.ToExample().Text);
    }

    [Theory]
    [InlineData("She has 3 + 4 = 7 apples.\n#### 7", "7")]
    [InlineData("#### 1,234", "1234")]
    [InlineData("####-5", "-5")]
    [InlineData("The answer:\n#### $18.", "18")]
    [InlineData("#### 2.50 dollars", "2.50")]
    [InlineData("#### 42\nUser: next question\n#### 99", "42")] // the first "####" counts, as in lm-eval's strict match
    public void Extract_reads_the_number_after_the_first_marker(string text, string expected) =>
        Assert.Equal(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), Gsm8kAnswer.Extract(text));

    [Theory]
    [InlineData("The answer is 7.")]
    [InlineData("#### seven")]
    [InlineData("")]
    [InlineData("### 7")]
    public void Extract_is_strict_without_a_marker_and_number(string text) => Assert.Null(Gsm8kAnswer.Extract(text));

    [Fact]
    public void Matches_compares_numbers_not_strings()
    {
        Assert.True(Gsm8kAnswer.Matches("so #### 1,000", "x\n#### 1000"));
        Assert.True(Gsm8kAnswer.Matches("#### 12.0", "#### 12"));
        Assert.False(Gsm8kAnswer.Matches("the answer is 12", "#### 12"));
        Assert.False(Gsm8kAnswer.Matches("#### 13", "#### 12"));
    }
}
