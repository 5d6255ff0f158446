using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoRAM.Data;

/// <summary>One message of a conversation: role "system", "user" or "assistant", and its text.</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>A conversation to train on; every assistant turn is a response the loss is computed on.</summary>
public sealed record Conversation(IReadOnlyList<ChatTurn> Turns)
{
    /// <summary>The Alpaca record the conversation was read from, if it was one: the Alpaca template renders it as Alpaca does.</summary>
    public InstructionRecord? Alpaca { get; init; }
}

/// <summary>A piece of rendered text; <see cref="Trained"/> pieces (assistant content and its end-of-turn token) carry the loss.</summary>
public readonly record struct TemplateSegment(string Text, bool Trained);

/// <summary>The prompt formats the tool renders: Alpaca (the shipped family's) and the chat templates of the LLaMA-family checkpoints.</summary>
public enum ChatFormat { Alpaca, Llama2, Llama3, ChatMl, Gemma, Mistral }

/// <summary>
/// The chat templates of the LLaMA family, rendered in C# exactly as Hugging Face's <c>apply_chat_template</c> renders
/// each family's Jinja template (no Jinja engine: these six are the ones we support, each written out below from the
/// template its checkpoints ship). The rendered text is split into segments so the loss can cover exactly the
/// assistant turns: each assistant turn's content and the token that ends it are trained, everything else is prompt.
/// </summary>
public static class ChatTemplates
{
    public static readonly IReadOnlyList<string> Names = ["alpaca", "llama2", "llama3", "chatml", "gemma", "mistral"];

    public static ChatFormat Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "alpaca" => ChatFormat.Alpaca,
        "llama2" => ChatFormat.Llama2,
        "llama3" => ChatFormat.Llama3,
        "chatml" or "qwen" => ChatFormat.ChatMl,
        "gemma" => ChatFormat.Gemma,
        "mistral" => ChatFormat.Mistral,
        _ => throw new UserInputException($"--template must be one of {string.Join(", ", Names)}, got '{name}'"),
    };

    public static string Name(ChatFormat format) => Names[(int)format];

    /// <summary>The family of a Jinja <c>chat_template</c>, by its distinctive markers; null when none is known.</summary>
    public static ChatFormat? Detect(string chatTemplate) =>
        chatTemplate.Contains("<|start_header_id|>") ? ChatFormat.Llama3
        : chatTemplate.Contains("<|im_start|>") ? ChatFormat.ChatMl
        : chatTemplate.Contains("<start_of_turn>") ? ChatFormat.Gemma
        : chatTemplate.Contains("[INST]") ? (chatTemplate.Contains("<<SYS>>") ? ChatFormat.Llama2 : ChatFormat.Mistral)
        : null;

    /// <summary>The format to train with: <paramref name="name"/> (--template) when given, else the family of the model
    /// folder's chat_template, else Alpaca; with a sentence saying which and why, for the progress line.</summary>
    public static (ChatFormat Format, string Why) Resolve(string? name, string modelFolder)
    {
        if (!string.IsNullOrWhiteSpace(name)) return (Parse(name), "--template");
        var template = ReadTokenizerConfig(modelFolder).ChatTemplate;
        if (template is null) return (ChatFormat.Alpaca, "default; the model folder has no chat_template");
        return Detect(template) is { } f
            ? (f, "recognised from tokenizer_config.json's chat_template")
            : throw new UserInputException($"{Path.Combine(modelFolder, "tokenizer_config.json")}: chat_template is none of the known families ({string.Join(", ", Names.Skip(1))}); pass --template");
    }

    /// <summary>The special-token strings and chat template of a model folder's tokenizer_config.json (nulls when absent).</summary>
    public static (string? Bos, string? Eos, string? ChatTemplate) ReadTokenizerConfig(string folder)
    {
        var path = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(path)) return (null, null, null);
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new UserInputException($"{path}: expected a JSON object"); }
        catch (JsonException e) { throw new UserInputException($"{path}: not valid JSON ({e.Message})", e); }
        // A token is a string or an AddedToken object {"content": ...}.
        static string? Token(JsonNode? n) => n switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonObject t => t["content"]?.GetValue<string>(),
            _ => null,
        };
        string? template = o["chat_template"] switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonArray a => a.OfType<JsonObject>().FirstOrDefault(t => t["name"]?.ToString() == "default")?["template"]?.ToString(),
            _ => null,
        };
        return (Token(o["bos_token"]), Token(o["eos_token"]), template);
    }

    /// <summary>
    /// The conversation rendered by <paramref name="format"/>'s template (<c>add_generation_prompt=False</c>), as segments.
    /// <paramref name="bos"/> and <paramref name="eos"/> are the tokenizer's bos_token and eos_token strings.
    /// A conversation the template refuses (roles out of order, a system turn where none is allowed) is an error naming
    /// <paramref name="where"/>.
    /// </summary>
    public static List<TemplateSegment> Render(ChatFormat format, Conversation c, string bos, string eos, string where = "conversation")
    {
        var s = new List<TemplateSegment>();
        void Prompt(string text) { if (text.Length > 0) s.Add(new(text, false)); }
        void Trained(string text) => s.Add(new(text, true));
        var turns = c.Turns;
        string? system = turns.Count > 0 && turns[0].Role == "system" ? turns[0].Content : null;
        var loop = system is null ? turns : turns.Skip(1).ToList();
        if (format is ChatFormat.Llama2 or ChatFormat.Gemma or ChatFormat.Mistral)
            for (int i = 0; i < loop.Count; i++)
                if ((loop[i].Role == "user") != (i % 2 == 0))
                    throw new UserInputException($"{where}: roles must alternate user/assistant/user/… (the {Name(format)} template's rule); turn {i + 1} is '{loop[i].Role}'");
        switch (format)
        {
            case ChatFormat.Llama2:
                // Llama-2-chat: bos [INST] (<<SYS>>\n sys \n<</SYS>>\n\n) user [/INST] assistant eos …
                for (int i = 0; i < loop.Count; i++)
                {
                    string content = i == 0 && system is not null ? $"<<SYS>>\n{system}\n<</SYS>>\n\n{loop[i].Content}" : loop[i].Content;
                    if (loop[i].Role == "user") Prompt($"{bos}[INST] {content.Trim()} [/INST]");
                    else { Prompt(" "); Trained($"{content.Trim()} {eos}"); }
                }
                break;
            case ChatFormat.Mistral:
                // Mistral-Instruct: bos [INST] user [/INST]assistant eos …; no system role.
                if (system is not null) throw new UserInputException($"{where}: the mistral template has no system role");
                Prompt(bos);
                foreach (var t in loop)
                    if (t.Role == "user") Prompt($"[INST] {t.Content} [/INST]");
                    else Trained(t.Content + eos);
                break;
            case ChatFormat.Llama3:
                // LLaMA-3(.1) Instruct: bos, then <|start_header_id|>role<|end_header_id|>\n\n content|trim <|eot_id|> per message.
                Prompt(bos);
                foreach (var t in turns)
                {
                    Prompt($"<|start_header_id|>{t.Role}<|end_header_id|>\n\n");
                    if (t.Role == "assistant") Trained(t.Content.Trim() + "<|eot_id|>");
                    else Prompt(t.Content.Trim() + "<|eot_id|>");
                }
                break;
            case ChatFormat.ChatMl:
                RenderQwen3(turns, Prompt, Trained);
                break;
            case ChatFormat.Gemma:
                // Gemma 3: bos, system text prefixed to the first user turn, assistant is "model", content|trim.
                Prompt(bos);
                for (int i = 0; i < loop.Count; i++)
                {
                    var t = loop[i];
                    string prefix = i == 0 && system is not null ? system + "\n\n" : "";
                    Prompt($"<start_of_turn>{(t.Role == "assistant" ? "model" : t.Role)}\n{prefix}");
                    if (t.Role == "assistant") { Trained(t.Content.Trim() + "<end_of_turn>"); Prompt("\n"); }
                    else Prompt(t.Content.Trim() + "<end_of_turn>\n");
                }
                break;
            default:
                throw new ArgumentException("the Alpaca format is rendered by ChatTemplate.Prompt, per instruction", nameof(format));
        }
        return s;
    }

    /// <summary>Qwen3's ChatML template (no tools): system first, then &lt;|im_start|&gt;role\n content &lt;|im_end|&gt;\n;
    /// an assistant turn after the last user turn that is the last message carries an empty think block
    /// (&lt;think&gt;\n\n&lt;/think&gt;\n\n), and a "&lt;/think&gt;" in an assistant's content splits off its reasoning.</summary>
    private static void RenderQwen3(IReadOnlyList<ChatTurn> turns, Action<string> prompt, Action<string> trained)
    {
        int lastQuery = turns.Count - 1;
        for (int i = turns.Count - 1; i >= 0; i--)
            if (turns[i].Role == "user") { lastQuery = i; break; }
        for (int i = 0; i < turns.Count; i++)
        {
            var t = turns[i];
            if (t.Role is "user" or "system")
            {
                prompt($"<|im_start|>{t.Role}\n{t.Content}<|im_end|>\n");
                continue;
            }
            string content = t.Content, reasoning = "";
            int cut = content.LastIndexOf("</think>", StringComparison.Ordinal);
            if (cut >= 0)
            {
                string before = content[..cut];
                int open = before.LastIndexOf("<think>", StringComparison.Ordinal);
                reasoning = (open >= 0 ? before[(open + "<think>".Length)..] : before).TrimEnd('\n').TrimStart('\n');
                content = content[(cut + "</think>".Length)..].TrimStart('\n');
            }
            if (i > lastQuery && (i == turns.Count - 1 || reasoning.Length > 0))
                prompt($"<|im_start|>assistant\n<think>\n{reasoning.Trim('\n')}\n</think>\n\n");
            else prompt("<|im_start|>assistant\n");
            trained((i > lastQuery && (i == turns.Count - 1 || reasoning.Length > 0) ? content.TrimStart('\n') : content) + "<|im_end|>");
            prompt("\n");
        }
    }

    /// <summary>The rendered text, segments joined: what HF's apply_chat_template(tokenize=False) returns.</summary>
    public static string Text(IEnumerable<TemplateSegment> segments) => string.Concat(segments.Select(x => x.Text));
}
