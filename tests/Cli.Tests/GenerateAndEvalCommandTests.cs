using System.CommandLine;
using System.Text.Json;
using LoRAM.Autograd;
using LoRAM.Cli;
using LoRAM.Llama.Generation;
using LoRAM.Llama.Model;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tests.Support;

namespace LoRAM.Tests.Cli;

public sealed class GenerateAndEvalCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-geneval-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static InProcessCli.Result Run(params string[] args) => InProcessCli.Run([GenerateCommand.Create(), EvalCommand.Create(), QuantizeCommand.Create(), MergeCommand.Create()], args);

    [Fact]
    public void Eval_reports_the_mean_next_token_nll_of_a_float64_log_softmax_over_the_logits()
    {
        var model = Path.Combine(_dir, "model");
        RandomLlama.Write(model);
        int[][] sequences = [[256, 72, 105, 33], [256, 10, 20, 30, 40, 50, 60], [1, 2]];
        var file = Path.Combine(_dir, "tokens.txt");
        File.WriteAllLines(file, ["# a comment", "256 72 105 33", "256,10,20, 30 40\t50 60", "", "1 2"]);

        var (code, output, _) = Run("eval", "--model", model, "--tokens", file, "--json", "--device", "cpu", "--batch", "2");
        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(3 + 6 + 1, json.RootElement.GetProperty("tokens").GetInt64());

        double nll = 0;
        using var cpu = new CpuBackend(1);
        using var llama = LlamaModel.Load(model, cpu);
        foreach (var s in sequences)
        {
            using var tape = new Tape(cpu);
            using var _ = tape.NoGrad();
            using var ids = Tensor.FromArray(cpu, s, 1, s.Length);
            var logits = llama.Forward(tape, ids).Value.ToFloatArray();
            for (int i = 0; i + 1 < s.Length; i++)
            {
                var row = logits.AsSpan(i * 259, 259).ToArray().Select(v => (double)v).ToArray();
                double max = row.Max(), lse = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
                nll += lse - row[s[i + 1]];
            }
        }
        double expected = nll / 10;
        Assert.Equal(expected, json.RootElement.GetProperty("nll").GetDouble(), 1e-5);
        Assert.Equal(Math.Exp(expected), json.RootElement.GetProperty("perplexity").GetDouble(), 1e-4 * Math.Exp(expected));
    }

    [Fact]
    public void Eval_names_the_file_and_line_of_a_bad_token()
    {
        var model = Path.Combine(_dir, "model");
        RandomLlama.Write(model);
        var file = Path.Combine(_dir, "bad.txt");
        File.WriteAllLines(file, ["1 2 3", "4 999 5"]);
        var (code, _, error) = Run("eval", "--model", model, "--tokens", file, "--json");
        Assert.Equal(2, code);
        Assert.Equal($"loram: error: {file}:2: token id 999 is outside the vocabulary [0, 259)", error.TrimEnd('\n'));
    }

    [Fact]
    public void Eval_names_the_file_and_tensor_of_a_checkpoint_that_contradicts_config()
    {
        var model = Path.Combine(_dir, "model");
        var config = RandomLlama.Write(model);
        (config with { HiddenSize = 64, HeadDim = 16 }).Save(Path.Combine(model, "config.json"));
        var file = Path.Combine(_dir, "tokens.txt");
        File.WriteAllText(file, "1 2 3\n");
        var (code, _, error) = Run("eval", "--model", model, "--tokens", file);
        Assert.Equal(2, code);
        Assert.Contains("model.safetensors", error);
        Assert.Contains("model.embed_tokens.weight", error);
        Assert.DoesNotContain('\n', error.TrimEnd('\n'));
    }

    [Fact]
    public void Generate_streams_the_greedy_continuation_and_reports_its_speed()
    {
        var model = Path.Combine(_dir, "model");
        RandomLlama.Write(model);
        var (code, output, error) = Run("generate", "--model", model, "--prompt", "Hello", "--max-new-tokens", "12", "--json", "--device", "cpu");
        Assert.Equal(0, code);

        // The same tokens through the library, decoded by the byte tokenizer (EOS ends it early, as in the command).
        using var cpu = new CpuBackend(1);
        using var llama = LlamaModel.Load(model, cpu);
        var prompt = new[] { 256 }.Concat("Hello"u8.ToArray().Select(b => (int)b)).ToArray();
        var ids = Generator.Generate(llama, prompt, 12, SamplingOptions.Greedy, new HashSet<int> { 257 }).Select(g => g.Id).TakeWhile(id => id != 257);
        var expected = System.Text.Encoding.UTF8.GetString(ids.Where(id => id < 256).Select(id => (byte)id).ToArray());
        // The text first, then the JSON summary as the last line of stdout.
        var jsonLine = output.TrimEnd().Split('\n')[^1];
        Assert.Equal(expected + Environment.NewLine + jsonLine + Environment.NewLine, output);
        Assert.DoesNotContain("prompt_tokens", error);
        using var summary = JsonDocument.Parse(jsonLine);
        Assert.Equal(6, summary.RootElement.GetProperty("prompt_tokens").GetInt32());
        Assert.InRange(summary.RootElement.GetProperty("generated_tokens").GetInt32(), 1, 12);
    }

    [Theory]
    [InlineData("--temperature", "-1")]
    [InlineData("--top-p", "0")]
    [InlineData("--max-new-tokens", "0")]
    [InlineData("--device", "tpu")]
    public void Generate_rejects_bad_flags_in_one_line(string flag, string value)
    {
        var model = Path.Combine(_dir, "model");
        RandomLlama.Write(model);
        var (code, _, error) = Run("generate", "--model", model, "--prompt", "x", flag, value);
        Assert.Equal(2, code);
        Assert.DoesNotContain('\n', error.Trim());
    }

    [Fact]
    public void Eval_and_generate_load_an_nf4_quantized_folder_and_its_perplexity_stays_close()
    {
        var model = Path.Combine(_dir, "model");
        RandomLlama.Write(model, RandomLlama.Config(hidden: 64, intermediate: 128), dtype: DType.F32);
        var quantized = Path.Combine(_dir, "nf4");
        Assert.Equal(0, Run("quantize", "--model", model, "--out", quantized, "--double-quant").Code);
        var file = Path.Combine(_dir, "tokens.txt");
        var rng = new Random(4);
        File.WriteAllLines(file, Enumerable.Range(0, 4).Select(_ => string.Join(' ', Enumerable.Range(0, 24).Select(_ => rng.Next(256)))));

        double Nll(string folder)
        {
            var (code, output, error) = Run("eval", "--model", folder, "--tokens", file, "--json");
            Assert.True(code == 0, error);
            using var json = JsonDocument.Parse(output);
            return json.RootElement.GetProperty("nll").GetDouble();
        }
        double full = Nll(model), nf4 = Nll(quantized);
        Assert.NotEqual(full, nf4);                       // the NF4 weights really are used
        Assert.True(Math.Abs(nf4 - full) < 0.05 * full, $"NLL {full:F4} (F32) vs {nf4:F4} (NF4)");

        using (var cpu = new CpuBackend(1))
        using (var llama = ModelLoader.Load(quantized, cpu))
            Assert.All(llama.Layers.SelectMany(l => l.Projections), p => Assert.IsType<LoRAM.Quantization.Nf4FrozenWeight>(((FrozenLinear)p.Layer).Weight));
        Assert.Equal(0, Run("generate", "--model", quantized, "--prompt", "Hi", "--max-new-tokens", "4").Code);
    }

    [Fact]
    public void Merged_model_scores_exactly_like_the_model_with_the_adapter_applied()
    {
        var model = Path.Combine(_dir, "model");
        RandomLlama.Write(model, dtype: DType.F32);
        var adapterDir = Path.Combine(_dir, "adapter");
        using (var cpu = new CpuBackend(1))
        using (var llama = LlamaModel.Load(model, cpu))
        {
            var lora = LoRAM.Lora.LoraAdapter.Attach(llama, new LoRAM.Lora.LoraSettings { TargetModules = ["q_proj", "up_proj", "lm_head"] }, seed: 2);
            foreach (var (_, layer) in lora.Layers)
                cpu.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Enumerable.Range(0, (int)layer.B.Value.Length).Select(i => MathF.Sin(i) * 0.1f).ToArray().AsSpan()), layer.B.Value);
            lora.Save(adapterDir);
        }
        var file = Path.Combine(_dir, "tokens.txt");
        File.WriteAllLines(file, ["256 10 20 30 40 50", "256 99 98 97"]);
        var merged = Path.Combine(_dir, "merged");
        var (code, _, error) = Run("merge", "--model", model, "--adapter", adapterDir, "--out", merged);
        Assert.True(code == 0, error);
        Assert.DoesNotContain(Directory.GetDirectories(_dir), d => d.Contains(".tmp-"));

        double Nll(params string[] args)
        {
            var (c, output, e) = Run(["eval", "--tokens", file, "--json", .. args]);
            Assert.True(c == 0, e);
            using var json = JsonDocument.Parse(output);
            return json.RootElement.GetProperty("nll").GetDouble();
        }
        double applied = Nll("--model", model, "--adapter", adapterDir), folded = Nll("--model", merged), plain = Nll("--model", model);
        Assert.Equal(applied, folded, 1e-5);
        Assert.True(Math.Abs(applied - plain) > 1e-3, "the adapter changes the model");

        (code, _, error) = Run("merge", "--model", model, "--adapter", adapterDir, "--out", merged);
        Assert.Equal(2, code);
        Assert.Contains("already exists", error);
    }
}
