using LoRAM.Tests.Support;
using LoRAM.Llama.Tests.Support;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoRAM.Llama;
using LoRAM.Llama.Safetensors;
using LoRAM.Quantization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Tests.Quantization;

/// <summary>
/// <c>loram quantize</c> on a random tiny LLaMA, and loading its projections back through
/// <see cref="QuantizedCheckpoint.TryLoadLinear"/>: y = x·Ŵᵀ against float64 with Ŵ the dequantization of the
/// original weights (bound per element 1e-5·Σ_p|x_p·ŵ_p| + 1e-7: float32 sums of k ≤ 128 products), the
/// bitsandbytes tensor names, the bits actually stored, and one-line errors for broken checkpoints.
/// </summary>
public sealed class QuantizedCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loram-quantize-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_projection_loads_back_and_multiplies_like_the_float64_dequantization_of_the_original(bool doubleQuant)
    {
        string src = Path.Combine(_dir, "model"), dst = Path.Combine(_dir, "nf4");
        var config = TinyLlamaFolder.Write(src);
        var report = ModelQuantizer.Run(new QuantizeOptions { Model = src, Out = dst, DoubleQuant = doubleQuant });

        Assert.True(QuantizedCheckpoint.IsQuantized(dst));
        Assert.False(QuantizedCheckpoint.IsQuantized(src));
        Assert.Equal(14, report.QuantizedTensors);
        var q = JsonNode.Parse(File.ReadAllText(Path.Combine(dst, ModelFolder.Config)))!["quantization_config"]!;
        Assert.Equal("nf4", q["bnb_4bit_quant_type"]!.GetValue<string>());
        Assert.Equal(doubleQuant, q["bnb_4bit_use_double_quant"]!.GetValue<bool>());
        Assert.True(File.Exists(Path.Combine(dst, "loram_tokenizer.json")));
        Assert.Empty(Directory.GetFiles(dst, "*.tmp"));
        // Plain: 4 + 32/64 = 4.5 exactly. Double: 4 + 8/64 + 32/(64·256) ≈ 4.127 for large tensors; these tiny ones
        // have one partly filled group of 256 blocks each, so the nested scale weighs more (4.125 + 32·groups/params).
        if (doubleQuant) Assert.InRange(report.BitsPerParameter, 4.126, 4.145);
        else Assert.Equal(4.5, report.BitsPerParameter, 12);
        Assert.Equal(report.CodeBytes * 2, report.QuantizedParameters);

        using var cpu = new CpuBackend(2);
        using var original = SafetensorsCheckpoint.Open(src);
        using var quantized = SafetensorsCheckpoint.Open(dst);
        Assert.Null(QuantizedCheckpoint.TryLoadLinear(quantized, LlamaTensorNames.Embedding, cpu));   // kept dense
        Assert.Equal("BF16", quantized[LlamaTensorNames.Embedding].DTypeName);
        var rng = new Random(3);
        foreach (var name in TinyLlamaFolder.Projections(config))
        {
            foreach (var suffix in new[] { "", ".absmax", ".quant_map", ".quant_state.bitsandbytes__nf4" }) Assert.True(quantized.Contains(name + suffix), name + suffix);
            Assert.Equal(doubleQuant, quantized.Contains(name + ".nested_absmax"));
            Assert.Equal(doubleQuant, quantized.Contains(name + ".nested_quant_map"));

            float[] w;
            using (var t = original.Load(cpu, name, DType.F32)) w = t.ToArray<float>();
            int outF = original[name].Shape[0], inF = original[name].Shape[1];
            var expectedW = Nf4Quantizer.Quantize(w, outF, inF, doubleQuant);
            using var loaded = QuantizedCheckpoint.TryLoadLinear(quantized, name, cpu);
            Assert.NotNull(loaded);
            Assert.Equal((outF, inF), (loaded.OutFeatures, loaded.InFeatures));

            const int n = 6;
            var x = new float[n * inF];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            using var tx = Tensor.FromArray(cpu, x, n, inF);
            using var ty = Tensor.Empty(cpu, n, outF);
            loaded.Forward(tx, ty);
            var y = ty.ToArray<float>();
            for (int i = 0; i < n; i++)
                for (int j = 0; j < outF; j++)
                {
                    double sum = 0, mag = 0;
                    for (int p = 0; p < inF; p++)
                    {
                        long e = (long)j * inF + p;
                        double wv = (double)NormalFloat4.Codes[expectedW.CodeAt(e)] * expectedW.BlockAbsmax((int)(e / 64));
                        sum += x[i * inF + p] * wv;
                        mag += Math.Abs(x[i * inF + p] * wv);
                    }
                    Assert.True(Math.Abs(sum - y[i * outF + j]) <= 1e-5 * mag + 1e-7, $"{name} y[{i},{j}] = {y[i * outF + j]} vs {sum}");
                }
        }
    }

    [Fact]
    public void Json_report_names_bytes_by_kind_and_bits_per_parameter()
    {
        string src = Path.Combine(_dir, "model"), dst = Path.Combine(_dir, "nf4");
        TinyLlamaFolder.Write(src);
        // The JSON `loram quantize --json` prints: the report as ReportJson writes it.
        using var json = JsonDocument.Parse(ReportJson.Serialize(ModelQuantizer.Run(new QuantizeOptions { Model = src, Out = dst, DoubleQuant = true })));
        var r = json.RootElement;
        Assert.True(r.GetProperty("double_quant").GetBoolean());
        long codes = r.GetProperty("code_bytes").GetInt64(), absmax = r.GetProperty("absmax_bytes").GetInt64();
        Assert.Equal((codes + absmax) * 8.0 / r.GetProperty("quantized_parameters").GetInt64(), r.GetProperty("bits_per_parameter").GetDouble(), 9);
        Assert.True(r.GetProperty("dense_bytes").GetInt64() > 0);
        Assert.InRange(r.GetProperty("max_relative_error").GetDouble(), 0.01, 0.2);
    }

    [Theory]
    [InlineData("codes")]
    [InlineData("absmax")]
    public void A_broken_tensor_is_a_one_line_error_naming_the_file_and_the_tensor(string broken)
    {
        string src = Path.Combine(_dir, "model"), dst = Path.Combine(_dir, "nf4");
        TinyLlamaFolder.Write(src);
        ModelQuantizer.Run(new QuantizeOptions { Model = src, Out = dst, DoubleQuant = broken == "absmax" });
        string victim = LlamaTensorNames.Up(1), tensor = broken == "codes" ? victim : victim + ".absmax";
        string path = Path.Combine(dst, ModelFolder.Weights);
        Rewrite(path, tensor);

        using var cpu = new CpuBackend(1);
        using var checkpoint = SafetensorsCheckpoint.Open(dst);
        var e = Assert.Throws<LlamaFormatException>(() => QuantizedCheckpoint.TryLoadLinear(checkpoint, victim, cpu));
        Assert.Contains(path, e.Message);
        Assert.Contains($"'{tensor}'", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_missing_model_folder_is_a_user_error()
    {
        var e = Assert.Throws<UserInputException>(() => ModelQuantizer.Run(new QuantizeOptions { Model = Path.Combine(_dir, "nope"), Out = Path.Combine(_dir, "out") }));
        Assert.Contains("nope", e.Message);
    }

    /// <summary>Rewrites the file with <paramref name="victim"/> one element short (a truncated tensor).</summary>
    private static void Rewrite(string path, string victim)
    {
        var tensors = new List<(string Name, string DType, int[] Shape, byte[] Data)>();
        using (var file = SafetensorsFile.Open(path))
            foreach (var e in file.Entries)
            {
                var data = file.RawBytes(e.Name).ToArray();
                var shape = (int[])e.Shape.Clone();
                if (e.Name == victim)
                {
                    shape[0]--;
                    data = data[..(data.Length - data.Length / e.Shape[0])];
                }
                tensors.Add((e.Name, e.DTypeName, shape, data));
            }
        var writer = new SafetensorsWriter();
        foreach (var (name, dtype, shape, data) in tensors) writer.Add(name, dtype, shape, data);
        writer.Save(path);
    }
}
