using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Tests;

/// <summary>Loading and saving Hugging Face LLaMA folders, and the float64 reference forward used by model tests.</summary>
public class LlamaWeightsTests
{
    [Fact]
    public void Bf16_folder_loads_every_hf_name_in_its_stored_dtype_without_pool_memory()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path, new TinyLlamaOptions { DType = DType.BF16 });
        using var cpu = new CpuBackend(1);
        using var w = LlamaWeights.Load(dir.Path, cpu);
        Assert.Equal(config.ParameterCount(), w.Tensors.Values.Sum(t => t.Length));
        Assert.All(w.Tensors.Values, t => Assert.Equal(DType.BF16, t.DType));
        Assert.Equal(2 * config.ParameterCount(), w.Bytes);          // 2 bytes per parameter
        Assert.Equal(0, cpu.Memory.PeakLiveBytes);                  // views of the mapped file
        Assert.Equal([32, 32], w[LlamaTensorNames.Q(1)].ShapeArray());
        Assert.Equal([16, 32], w[LlamaTensorNames.K(1)].ShapeArray()); // 2 kv heads × head_dim 8
        Assert.Equal([32, 48], w[LlamaTensorNames.Down(0)].ShapeArray());
        Assert.NotSame(w.Embedding, w.LmHead);
    }

    [Fact]
    public void Conversion_on_load_rounds_to_the_requested_dtype()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 1, Tied = true });
        using var cpu = new CpuBackend(1);
        using var f32 = LlamaWeights.Load(dir.Path, cpu);
        using var bf16 = LlamaWeights.Load(dir.Path, cpu, DType.BF16);
        Assert.Same(bf16.Embedding, bf16.LmHead);
        Assert.False(bf16.Tensors.ContainsKey(LlamaTensorNames.LmHead));
        var expected = f32[LlamaTensorNames.Up(0)].ToArray<float>().Select(BFloat16.FromSingle);
        Assert.Equal(expected, bf16[LlamaTensorNames.Up(0)].ToArray<ushort>());   // bit-exact round to nearest even
    }

    [Fact]
    public void Shape_mismatch_names_the_file_the_tensor_and_both_shapes()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path);
        (config with { IntermediateSize = 40 }).Save(dir.File("config.json"));
        using var cpu = new CpuBackend(1);
        var e = Assert.Throws<LlamaFormatException>(() => LlamaWeights.Load(dir.Path, cpu));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);
        Assert.Contains("[48, 32]", e.Message);
        Assert.Contains("[40, 32]", e.Message);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Write(dir.Path);
        (config with { NumHiddenLayers = 3 }).Save(dir.File("config.json"));
        using var cpu = new CpuBackend(1);
        var e = Assert.Throws<LlamaFormatException>(() => LlamaWeights.Load(dir.Path, cpu));
        Assert.Contains("model.layers.2.", e.Message);
    }

    [Fact]
    public void Saved_folder_reloads_bit_exactly_with_config_and_tokenizer_files()
    {
        using var src = new TempFolder();
        using var dst = new TempFolder();
        TinyLlama.Write(src.Path, new TinyLlamaOptions { DType = DType.BF16, Llama3RopeScaling = true });
        using var cpu = new CpuBackend(1);
        using (var w = LlamaWeights.Load(src.Path, cpu)) w.Save(dst.Path, tokenizerFrom: src.Path, maxShardBytes: 4096);
        Assert.True(File.Exists(dst.File("model.safetensors.index.json")));     // small shards forced
        Assert.True(File.Exists(dst.File("loram_tokenizer.json")));
        using var a = LlamaWeights.Load(src.Path, cpu);
        using var b = LlamaWeights.Load(dst.Path, cpu);
        Assert.Equal(a.Config.ToJson(), b.Config.ToJson());
        foreach (var (name, t) in a.Tensors) Assert.Equal(t.ToArray<ushort>(), b[name].ToArray<ushort>());
    }

    [Theory]
    [InlineData(4096)]          // sharded, with an index
    [InlineData(1L << 30)]      // one file
    public void Streaming_save_holds_one_tensor_at_a_time_and_reloads_bit_exactly(long maxShardBytes)
    {
        using var src = new TempFolder();
        using var dst = new TempFolder();
        TinyLlama.Write(src.Path, new TinyLlamaOptions { DType = DType.BF16 });
        using var cpu = new CpuBackend(1);
        using var made = new CpuBackend(1);     // the backend the copies come from, so its peak counts only them
        using var a = LlamaWeights.Load(src.Path, cpu);
        var files = LlamaWeights.SaveStreaming(dst.Path, a.Config, name => a[name].DType,
            name => Tensor.FromSpan<ushort>(made, a[name].ToArray<ushort>(), DType.BF16, a[name].ShapeArray()),
            tokenizerFrom: src.Path, maxShardBytes: maxShardBytes);
        // Each copy is freed before the next is made: the peak is the largest tensor (in its pool size class, ≤ 25 % over).
        long largest = a.Tensors.Values.Max(t => t.Bytes);
        Assert.InRange(made.Memory.PeakLiveBytes, largest, largest * 5 / 4 + 64);
        Assert.True(a.Bytes > largest * 5 / 4 + 64, $"{a.Bytes} vs {largest}");   // holding them all would not fit the bound
        Assert.Equal(maxShardBytes < 1 << 20, File.Exists(dst.File("model.safetensors.index.json")));
        Assert.Contains("config.json", files);
        Assert.True(File.Exists(dst.File("loram_tokenizer.json")));
        using var b = LlamaWeights.Load(dst.Path, cpu);
        Assert.Equal(a.Config.ToJson(), b.Config.ToJson());
        foreach (var (name, t) in a.Tensors) Assert.Equal(t.ToArray<ushort>(), b[name].ToArray<ushort>());
    }

    [Fact]
    public void Reference_forward_is_causal_and_reduces_to_norm_and_lm_head_when_blocks_are_zero()
    {
        using var dir = new TempFolder();
        TinyLlama.Write(dir.Path, new TinyLlamaOptions { Layers = 2, Llama3RopeScaling = true });
        var reference = new LlamaReference64(dir.Path);
        int[] tokens = [256, 72, 105, 33, 10];
        var full = reference.Logits(tokens);
        var prefix = reference.Logits(tokens[..3]);
        Assert.Equal(259, full.GetLength(1));
        for (int i = 0; i < 3; i++)
            for (int v = 0; v < 259; v++) Assert.Equal(prefix[i, v], full[i, v], 1e-12);   // later tokens never change earlier logits
        Assert.True(Math.Abs(full[4, 0] - full[3, 0]) > 1e-6);

        // With o_proj and down_proj zero every block adds nothing: logits = W_lm · RMSNorm(E[t]) ⊙ w_norm.
        using var zero = new TempFolder();
        var config = TinyLlama.Write(zero.Path, new TinyLlamaOptions { Layers = 1, Tied = true });
        using (var cpu = new CpuBackend(1))
        using (var w = LlamaWeights.Load(zero.Path, cpu))
        {
            var names = LlamaTensorNames.Expected(config).Select(e => e.Name).ToList();
            var writer = new SafetensorsWriter();
            var zeros = new List<Tensor>();
            foreach (var n in names)
            {
                var t = n == LlamaTensorNames.O(0) || n == LlamaTensorNames.Down(0) ? Tensor.Zeros(cpu, w[n].ShapeArray()) : w[n].Clone();
                zeros.Add(t);
                writer.Add(n, t);
            }
            writer.Save(zero.File("model.safetensors"));
            zeros.ForEach(t => t.Dispose());
        }
        var r = new LlamaReference64(zero.Path).Logits([65]);
        using var cpu2 = new CpuBackend(1);
        using var w2 = LlamaWeights.Load(zero.Path, cpu2);
        var e = w2.Embedding.ToArray<float>();
        var norm = w2[LlamaTensorNames.FinalNorm].ToArray<float>();
        int h = config.HiddenSize;
        double ms = 0;
        for (int j = 0; j < h; j++) ms += (double)e[65 * h + j] * e[65 * h + j];
        double rstd = 1 / Math.Sqrt(ms / h + 1e-5);
        for (int v = 0; v < config.VocabSize; v++)
        {
            double logit = 0;
            for (int j = 0; j < h; j++) logit += e[65 * h + j] * rstd * norm[j] * e[v * h + j];
            Assert.Equal(logit, r[0, v], 1e-9);
        }
    }
}
