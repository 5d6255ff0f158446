using LoRAM.Data;
using LoRAM.Llama.Tests.Tokenization;
using LoRAM.Tests.Support;
using LoRAM.Llama.Tests.Support;

namespace LoRAM.Tests.Data;

/// <summary>Each template's rendering of one two-turn conversation, written out by hand from the family's Jinja template
/// (the tokenizer_config.json fixtures for llama3, chatml and gemma; Llama-2-chat's and Mistral-Instruct's published
/// templates), and the loss mask on real tokenizers: exactly the assistant turns, each with its end-of-turn token.</summary>
public sealed class ChatTemplateTests
{
    private static readonly Conversation WithSystem = new([
        new("system", "Be brief."), new("user", "Hi"), new("assistant", "Hello!"), new("user", "2+2?"), new("assistant", "4")]);
    private static readonly Conversation NoSystem = new(WithSystem.Turns.Skip(1).ToList());

    public static TheoryData<string, string, string, string, string, string[]> Cases => new()
    {
        { "llama3", "llama3_1", "<|begin_of_text|>", "<|eot_id|>",
          "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
          "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>" +
          "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>",
          ["Hello!<|eot_id|>", "4<|eot_id|>"] },
        { "chatml", "qwen3", "", "<|im_end|>",
          "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n" +
          "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n",
          ["Hello!<|im_end|>", "4<|im_end|>"] },
        { "gemma", "gemma3", "<bos>", "<end_of_turn>",
          "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n" +
          "<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n",
          ["Hello!<end_of_turn>", "4<end_of_turn>"] },
        { "llama2", "llama2", "<s>", "</s>",
          "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? [/INST] 4 </s>",
          ["Hello! </s>", "4 </s>"] },
        { "mistral", "llama2", "<s>", "</s>",
          "<s>[INST] Hi [/INST]Hello!</s>[INST] 2+2? [/INST]4</s>",
          ["Hello!</s>", "4</s>"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Template_renders_as_hugging_face_and_masks_exactly_the_assistant_turns(string template, string tokenizerName, string bos, string eos,
        string expected, string[] assistant)
    {
        var format = ChatTemplates.Parse(template);
        var conversation = format == ChatFormat.Mistral ? NoSystem : WithSystem;
        var segments = ChatTemplates.Render(format, conversation, bos, eos);
        Assert.Equal(expected, ChatTemplates.Text(segments));

        var tokenizer = ReferenceTokenizers.Tokenizer(tokenizerName);
        var example = InstructionTokens.Encode(tokenizer, segments, 4096);
        // The whole rendered text tokenizes to the same ids as HF's apply_chat_template(tokenize=True) does on it.
        Assert.Equal(tokenizer.Encode(expected, addBos: false), example.Ids);
        var runs = new List<List<int>>();
        for (int i = 0; i < example.Ids.Length; i++)
            if (example.IsTrained(i))
            {
                if (i == 0 || !example.IsTrained(i - 1)) runs.Add([]);
                runs[^1].Add(example.Ids[i]);
            }
        // Each trained run is one assistant turn: its text (decoding drops special tokens) and its end-of-turn token last.
        Assert.Equal(assistant.Select(a => a.Replace(eos, "")), runs.Select(r => tokenizer.Decode(r)));
        int end = tokenizer.Encode(eos, addBos: false).Single();
        Assert.All(runs, r => Assert.Equal(end, r[^1]));
    }

    [Theory]
    [InlineData("{\"bos_token\": \"<|begin_of_text|>\", \"chat_template\": \"{{ '<|start_header_id|>' }}\"}", ChatFormat.Llama3)]
    [InlineData("{\"chat_template\": \"{{ '<|im_start|>' + role }}\"}", ChatFormat.ChatMl)]
    [InlineData("{\"chat_template\": \"{{ '<start_of_turn>' }}\"}", ChatFormat.Gemma)]
    [InlineData("{\"chat_template\": \"{{ '[INST] ' + '<<SYS>>' }}\"}", ChatFormat.Llama2)]
    [InlineData("{\"chat_template\": \"{{ bos_token + '[INST] ' }}\"}", ChatFormat.Mistral)]
    [InlineData("{\"bos_token\": \"<s>\"}", ChatFormat.Alpaca)]
    public void The_template_family_is_recognised_from_the_chat_template(string tokenizerConfig, ChatFormat expected)
    {
        using var dir = new TempFolder();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), tokenizerConfig);
        Assert.Equal(expected, ChatTemplates.Resolve(null, dir.Path).Format);
        Assert.Equal(ChatFormat.Gemma, ChatTemplates.Resolve("gemma", dir.Path).Format);   // --template wins
    }

    [Fact]
    public void The_real_fixtures_chat_templates_are_recognised()
    {
        Assert.Equal(ChatFormat.Llama3, ChatTemplates.Resolve(null, ReferenceTokenizers.FolderOf("llama3_1")).Format);
        Assert.Equal(ChatFormat.ChatMl, ChatTemplates.Resolve(null, ReferenceTokenizers.FolderOf("qwen3")).Format);
        Assert.Equal(ChatFormat.Gemma, ChatTemplates.Resolve(null, ReferenceTokenizers.FolderOf("gemma3")).Format);
        Assert.Equal(ChatFormat.Alpaca, ChatTemplates.Resolve(null, ReferenceTokenizers.FolderOf("llama2")).Format);   // no chat_template
    }

    [Fact]
    public void Every_data_format_reads_to_the_same_conversation()
    {
        using var dir = new TempFolder();
        string Write(string name, string text) { var p = Path.Combine(dir.Path, name); File.WriteAllText(p, text); return p; }
        var messages = Write("m.jsonl", """{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}""" + "\n");
        var sharegpt = Write("s.jsonl", """{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]}""" + "\n");
        Assert.Equal(WithSystem.Turns, ConversationFiles.Load(messages).Single().Turns);
        Assert.Equal(WithSystem.Turns, ConversationFiles.Load(sharegpt).Single().Turns);

        // Alpaca as a JSON array (alpaca_data.json) and as JSONL: user = instruction + blank line + input.
        var array = Write("alpaca_data.json", """
            [
              {"instruction": "Add the numbers.", "input": "2 and 2", "output": "4"},
              {"instruction": "Say hi.", "input": "", "output": "Hi!"}
            ]
            """);
        var records = ConversationFiles.Load(array);
        Assert.Equal([new ChatTurn("user", "Add the numbers.\n\n2 and 2"), new ChatTurn("assistant", "4")], records[0].Turns);
        Assert.Equal(new InstructionRecord("Say hi.", "", "Hi!"), records[1].Alpaca);
        // The alpaca template keeps the shipped layout exactly.
        Assert.Equal(ChatTemplate.Prompt("Add the numbers.", "2 and 2"), ConversationFiles.ToAlpacaRecords(records[0]).Single().ToExample().Prompt);
        // Multi-turn under alpaca: one record per assistant turn, earlier turns as the input.
        var perTurn = ConversationFiles.ToAlpacaRecords(ConversationFiles.Load(messages).Single()).ToList();
        Assert.Equal(new InstructionRecord("Hi", "System: Be brief.", "Hello!"), perTurn[0]);
        Assert.Equal(new InstructionRecord("2+2?", "System: Be brief.\nHuman: Hi\nAssistant: Hello!", "4"), perTurn[1]);
    }

    [Theory]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}", ":2: field \"messages\" has no assistant turn")]
    [InlineData("{\"messages\": [{\"role\": \"robot\", \"content\": \"Hi\"}]}", ":2: messages[0].role is \"robot\"")]
    [InlineData("{\"conversations\": [{\"from\": \"human\"}]}", ":2: conversations[0].value is missing")]
    [InlineData("{\"instruction\": \"x\", \"output\": 3}", ":2: field \"output\" must be a string")]
    [InlineData("{\"prompt\": \"x\"}", ":2: no \"messages\", \"conversations\" or \"instruction\" field")]
    public void A_rejected_record_names_file_line_and_field(string record, string message)
    {
        using var dir = new TempFolder();
        var path = Path.Combine(dir.Path, "data.jsonl");
        File.WriteAllLines(path, ["{\"instruction\": \"ok\", \"output\": \"fine\"}", record]);
        var e = Assert.Throws<UserInputException>(() => ConversationFiles.Load(path));
        Assert.StartsWith(path + message, e.Message);
    }

    [Fact]
    public void A_rejected_array_item_is_named_by_its_index()
    {
        using var dir = new TempFolder();
        var path = Path.Combine(dir.Path, "alpaca_data.json");
        File.WriteAllText(path, """[{"instruction": "ok", "output": "fine"}, {"instruction": "ok", "output": ""}]""");
        Assert.Equal($"{path}: item 2: field \"output\" is empty", Assert.Throws<UserInputException>(() => ConversationFiles.Load(path)).Message);
    }
}
