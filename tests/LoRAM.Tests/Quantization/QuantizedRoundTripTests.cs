using LoRAM.Autograd;
using LoRAM.Data;
using LoRAM.Evaluation;
using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Tokenization;
using LoRAM.Quantization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Tests.Quantization;

/// <summary>
/// quantize → load → logits, through the library calls <c>loram quantize</c> and <c>loram eval</c> make
/// (<see cref="ModelQuantizer.Quantize"/>, then <see cref="LlamaModel.Load"/> with
/// <see cref="QuantizedCheckpoint.TryLoadLinear"/> as the linear loader, as the CLI's model loader sets it for a folder
/// whose config declares 4-bit quantization). Two references:
/// <list type="bullet">
/// <item>a dense float32 model whose projections are the host dequantization of the same NF4 weights: the loaded NF4
/// model must match it up to float32 summation order (max |Δlogit| ≤ 1e-4 of the largest |logit|; measured: 0, the
/// packed NF4 GEMM feeds the dense microkernel the same decoded panels);</item>
/// <item>the BF16 model itself: NF4 costs accuracy, so the bound is loose and measured (stated per test).</item>
/// </list>
/// Shapes include in_features that are not multiples of 64 (the shipped models' down_proj has in = 688), where NF4
/// blocks straddle rows — what <c>loram eval</c> on a <c>loram quantize</c>d folder used to refuse.
/// </summary>
public sealed class QuantizedRoundTripTests : IDisposable
{
    private static readonly int[] Tokens = [1, 7, 30, 12, 44, 3, 9, 21, 5, 48, 17, 2, 33, 40, 6];
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-nf4-roundtrip-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("cpu", 45, 33, false)]     // hidden and intermediate odd: every projection has an odd element count
    [InlineData("cpu", 48, 100, true)]     // blocks straddle rows; double quantization
    [InlineData("ilgpu-cpu", 45, 33, true)]
    [InlineData("cpu", 64, 128, true)]     // aligned, for comparison
    public void A_quantized_tiny_model_loads_and_matches_its_dequantized_dense_twin(string device, int hidden, int intermediate, bool doubleQuant)
    {
        string src = Path.Combine(_dir, "model"), dst = Path.Combine(_dir, "nf4");
        var config = TinyLlamaFolder.Write(src, seed: hidden + intermediate, hidden: hidden, intermediate: intermediate, headDim: 12);
        var report = ModelQuantizer.Quantize(src, dst, doubleQuant);
        Assert.Equal(7 * config.NumHiddenLayers, report.QuantizedTensors);

        using Backend backend = device == "cpu" ? new CpuBackend(2) : IlgpuBackend.CreateCpu();
        using var nf4 = LoadQuantized(dst, backend);
        Assert.All(nf4.Layers.SelectMany(l => l.Projections), p => Assert.IsType<Nf4FrozenWeight>(((FrozenLinear)p.Layer).Weight));
        var got = Logits(nf4, Tokens);

        using var twin = DequantizedTwin(src, doubleQuant, backend);
        var want = Logits(twin, Tokens);
        double rel = MaxRelativeDifference(got, want);
        Assert.True(rel <= 1e-4, $"NF4 model vs its dequantized twin: max |Δlogit| / max |logit| = {rel:E2}");

        // Against BF16: uniform random weights are NF4's worst case (it is built for normal ones); measured 0.23–0.28
        // of the largest logit on these four, bound 0.5 — a sanity check; the twin above is the exact one.
        using var bf16 = LlamaModel.Load(src, backend);
        double drift = MaxRelativeDifference(got, Logits(bf16, Tokens));
        Assert.True(drift <= 0.5, $"NF4 vs BF16 logits: {drift:F3}");
    }

    [Theory]
    [InlineData("base", true)]
    [InlineData("sibling", false)]
    public void A_quantized_shipped_model_loads_and_scores_like_the_bf16_one(string name, bool straddles)
    {
        string src = Path.Combine(RepositoryRoot(), "models", name), dst = Path.Combine(_dir, name + "-nf4");
        var config = LlamaConfig.Load(Path.Combine(src, ModelFolder.Config));
        // The base's down_proj rows (688 inputs) straddle NF4 blocks of 64, the case the block layout must get right;
        // the sibling's (512) fill whole blocks.
        Assert.Equal(straddles, config.IntermediateSize % Nf4Matrix.BlockSize != 0);
        ModelQuantizer.Quantize(src, dst, doubleQuant: true);

        using var cpu = new CpuBackend(2);
        using var nf4 = LoadQuantized(dst, cpu);
        using var twin = DequantizedTwin(src, doubleQuant: true, cpu);
        int[] tokens = [256, 84, 104, 101, 32, 99, 97, 116, 32, 115, 97, 116, 32, 111, 110, 32, 116, 104, 101, 32, 109, 97, 116, 46];
        double rel = MaxRelativeDifference(Logits(nf4, tokens), Logits(twin, tokens));
        Assert.True(rel <= 1e-4, $"{name}: NF4 model vs its dequantized twin: {rel:E2}");

        // Perplexity on corpus documents neither model was trained on (as ShippedModelsTests picks them).
        var generator = new CorpusGenerator(World.Generate(seed: 1), seed: 1);
        var unseen = generator.Documents().Skip(generator.Documents(8_000_000).Count()).Take(8).ToList();
        var tokenizer = Tokenizers.Load(src);
        using var bf16 = LlamaModel.Load(src, cpu);
        double nllBf16 = Benchmarks.TextPerplexity(bf16, tokenizer, unseen).MeanNll;
        double nllNf4 = Benchmarks.TextPerplexity(nf4, tokenizer, unseen).MeanNll;
        // QLoRA's premise: NF4 costs little. Measured on the first family: base 0.3818 vs 0.3729 (+2.4%), sibling 0.6293
        // vs 0.6267 (+0.4%) nats/byte; bound +10%.
        Assert.True(double.IsFinite(nllNf4) && nllNf4 <= 1.10 * nllBf16, $"{name}: NF4 {nllNf4:F4} vs BF16 {nllBf16:F4} nats/byte");
    }

    /// <summary>A NaN scale makes 64 weights NaN: loading names the absmax tensor (plain F32 absmax, and a NaN nested
    /// scale of double quantization, which poisons 256 blocks).</summary>
    [Theory]
    [InlineData(false, ".absmax")]
    [InlineData(true, ".nested_absmax")]
    public void A_non_finite_block_scale_is_refused_naming_the_tensor(bool doubleQuant, string poisoned)
    {
        string src = Path.Combine(_dir, "model"), dst = Path.Combine(_dir, "nf4");
        TinyLlamaFolder.Write(src, hidden: 48, intermediate: 100, headDim: 12);
        ModelQuantizer.Quantize(src, dst, doubleQuant);
        string weights = Path.Combine(dst, ModelFolder.Weights), tensor = LlamaTensorNames.Down(1) + poisoned;
        Llama.Tests.Support.SafetensorsPoke.Element(weights, tensor, 0, DType.F32, "nan");
        using var cpu = new CpuBackend(1);
        Llama.Tests.Support.Rejection.Expect<LlamaFormatException>(() => LoadQuantized(dst, cpu).Dispose(), weights, LlamaTensorNames.Down(1) + ".absmax", "NaN/Inf");
    }

    private static LlamaModel LoadQuantized(string folder, Backend backend)
    {
        Assert.True(QuantizedCheckpoint.IsQuantized(folder));
        return LlamaModel.Load(folder, backend, new LlamaModelOptions { LinearLoader = QuantizedCheckpoint.TryLoadLinear });
    }

    /// <summary>The model of <paramref name="folder"/> in float32 with every projection replaced by the host
    /// dequantization of its NF4 quantization (<see cref="Nf4Weight.Dequantize"/>).</summary>
    private static LlamaModel DequantizedTwin(string folder, bool doubleQuant, Backend backend)
    {
        using var cpu = new CpuBackend(1);
        using var weights = LlamaWeights.Load(folder, cpu, DType.F32);
        var projections = TinyLlamaFolder.Projections(weights.Config).ToHashSet();
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, t) in weights.Tensors)
        {
            var data = t.ToFloatArray();
            if (projections.Contains(name)) data = Nf4Quantizer.Quantize(data, t.Dim(0), t.Dim(1), doubleQuant).Dequantize();
            tensors[name] = Tensor.FromArray(backend, data, t.ShapeArray());
        }
        using var lw = LlamaWeights.FromTensors(weights.Config, tensors);
        return LlamaModel.FromWeights(lw, backend);
    }

    private static float[] Logits(LlamaModel model, int[] tokens)
    {
        using var tape = new Tape(model.Backend);
        using var _ = tape.NoGrad();
        using var ids = Tensor.FromArray(model.Backend, tokens, 1, tokens.Length);
        return model.Forward(tape, ids).Value.ToFloatArray();
    }

    private static double MaxRelativeDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double diff = 0, scale = 0;
        for (int i = 0; i < a.Length; i++) { diff = Math.Max(diff, Math.Abs(a[i] - b[i])); scale = Math.Max(scale, Math.Abs(b[i])); }
        return diff / scale;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LoRAM.sln"))) return dir.FullName;
        throw new InvalidOperationException($"LoRAM.sln not found above {AppContext.BaseDirectory}");
    }
}
