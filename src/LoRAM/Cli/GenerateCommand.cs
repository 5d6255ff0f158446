using System.CommandLine;
using System.Text.Json;
using LoRAM.Llama;
using LoRAM.Llama.Generation;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Cli;

/// <summary><c>loram generate</c>: streams a continuation of a prompt, token by token, with a KV cache.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 = greedy (the default).", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling: keep the smallest set of tokens with this much probability.", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "Keep only the K most likely tokens (0 = all).", DefaultValueFactory = _ => 0 };
        var seed = new Option<int>("--seed") { Description = "Seed of the sampler.", DefaultValueFactory = _ => 0 };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not prepend the BOS token to the prompt." };
        var adapter = CommonOptions.Adapter();
        var device = CommonOptions.Device();
        var json = new Option<bool>("--json") { Description = "After the text, print the timing summary as one JSON line on stdout." };

        var command = new Command("generate", "Continue a prompt with a model, streaming the text as it is generated.")
        {
            model, adapter, prompt, maxNew, temperature, topP, topK, seed, noBos, device, json,
        };
        command.SetAction(parse =>
        {
            var sampling = new SamplingOptions(parse.GetValue(temperature), parse.GetValue(topK), parse.GetValue(topP), parse.GetValue(seed));
            try { sampling.Validate(); }
            catch (ArgumentException e) { throw new UserInputException(e.Message, e); }
            int budget = parse.GetValue(maxNew);
            if (budget < 1) throw new UserInputException($"--max-new-tokens must be 1 or more, got {budget}");

            var folder = parse.GetValue(model)!;
            using var backend = CommonOptions.OpenBackend(parse.GetValue(device));
            using var llama = ModelLoader.Load(folder, backend, parse.GetValue(adapter));
            ITokenizer tokenizer;
            try { tokenizer = Tokenizers.Load(folder, llama.Config); }
            catch (LlamaFormatException e) { throw new UserInputException(e.Message, e); }

            var ids = tokenizer.Encode(parse.GetValue(prompt)!, addBos: !parse.GetValue(noBos));
            if (ids.Length == 0) throw new UserInputException("--prompt: the prompt has no tokens (drop --no-bos, or give some text)");
            var stop = new HashSet<int>(llama.Config.EosTokenIds) { tokenizer.EosId };
            var output = parse.InvocationConfiguration.Output;
            var decoder = tokenizer.CreateStreamingDecoder();
            var times = new List<double>();
            string? reason = "length";
            foreach (var token in Generator.Generate(llama, ids, budget, sampling, stop))
            {
                times.Add(token.Seconds);
                if (stop.Contains(token.Id)) { reason = "eos"; break; }
                output.Write(decoder.Push(token.Id));
                output.Flush();
            }
            output.WriteLine(decoder.Flush());

            double prefill = times.Count > 0 ? times[0] : 0, decode = times.Skip(1).Sum();
            var summary = new
            {
                prompt_tokens = ids.Length,
                generated_tokens = times.Count,
                stop = reason,
                prefill_seconds = prefill,
                prefill_tokens_per_s = prefill > 0 ? ids.Length / prefill : 0,
                decode_tokens_per_s = decode > 0 ? (times.Count - 1) / decode : 0,
                device = backend.Name,
            };
            // --json: the summary is a result, so stdout (the last line, after the text); else a note on stderr.
            if (parse.GetValue(json)) output.WriteLine(JsonSerializer.Serialize(summary));
            else parse.InvocationConfiguration.Error.WriteLine($"[{summary.prompt_tokens} prompt tokens, {summary.generated_tokens} generated ({reason}); prefill {summary.prefill_tokens_per_s:F0} tok/s, decode {summary.decode_tokens_per_s:F1} tok/s on {backend.Name}]");
            return 0;
        });
        return command;
    }
}
