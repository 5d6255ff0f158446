using System.CommandLine;
using System.Text.Json;
using LoRAM.Data;

namespace LoRAM.Cli;

/// <summary><c>loram tokenize</c>: flags → <see cref="TokenizeOptions"/> → <see cref="TextTokenization.Run"/> → ids on stdout.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model("Folder with tokenizer.json or tokenizer.model (weights not needed; config.json optional).");
        var text = new Option<string?>("--text") { Description = "Text to tokenize." };
        var file = new Option<string?>("--file") { Description = "Text file to tokenize, whole." };
        var jsonl = new Option<string?>("--jsonl") { Description = "JSONL of {\"text\": …}: one {\"ids\": […]} line out per line in." };
        var json = CommonOptions.Json("--text/--file: print {\"ids\": […], \"count\": n} instead of the bare ids.");
        var command = new Command("tokenize", "Token ids of text as Hugging Face's tokenizer(text)[\"input_ids\"] gives them (special tokens included).")
        {
            model, text, file, jsonl, json,
        };
        command.SetAction(parse =>
        {
            var report = TextTokenization.Run(new TokenizeOptions
            {
                Model = parse.GetValue(model)!, Text = parse.GetValue(text), File = parse.GetValue(file), Jsonl = parse.GetValue(jsonl),
            });
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(jsonl) is not null)
                foreach (var ids in report.Sequences) output.WriteLine(JsonSerializer.Serialize(new { ids }));
            else if (parse.GetValue(json))
                output.WriteLine(JsonSerializer.Serialize(new { ids = report.Sequences[0], count = report.Sequences[0].Length }));
            else output.WriteLine(string.Join(' ', report.Sequences[0]));
            return 0;
        });
        return command;
    }
}
