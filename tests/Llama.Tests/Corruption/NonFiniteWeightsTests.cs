using LoRAM.Llama.Model;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Tests.Corruption;

/// <summary>
/// A NaN or ±Inf in any base weight used to surface as "perplexity NaN" with exit 0 (or as a training divergence,
/// blaming the wrong thing). Loading now scans every weight once (SafetensorsFile.RequireFinite) and refuses such a file
/// with one line naming the file and the tensor, in each stored dtype, wherever the value sits (vector body or tail).
/// </summary>
public sealed class NonFiniteWeightsTests : IDisposable
{
    private readonly TempFolder _dir = new("loram-nonfinite");
    public void Dispose() => _dir.Dispose();

    public static TheoryData<DType, string, int, string> Cases => new()
    {
        { DType.F32, LlamaTensorNames.Gate(1), 5, "nan" },
        { DType.F32, LlamaTensorNames.FinalNorm, 31, "-inf" },   // the last element: the scalar tail
        { DType.BF16, LlamaTensorNames.Embedding, 259 * 32 - 1, "inf" },
        { DType.BF16, LlamaTensorNames.Down(0), 700, "nan" },
        { DType.F16, LlamaTensorNames.Q(1), 0, "-nan" },
        { DType.F16, LlamaTensorNames.LmHead, 4000, "inf" },
    };

    [Theory, MemberData(nameof(Cases))]
    public void A_weight_that_is_not_a_number_is_refused_naming_the_file_and_tensor(DType dtype, string tensor, int element, string value)
    {
        string folder = _dir.File($"{dtype}-{value}");
        TinyLlama.Write(folder, new TinyLlamaOptions { DType = dtype });
        string weights = Path.Combine(folder, ModelFolder.Weights);
        SafetensorsPoke.Element(weights, tensor, element, dtype, value);
        using var cpu = new CpuBackend(1);
        using (var file = SafetensorsFile.Open(weights))
            Assert.Equal(((long)element, 1L), file.FindNonFinite(tensor));
        Rejection.Expect<LlamaFormatException>(() => LlamaModel.Load(folder, cpu).Dispose(), weights, tensor, "NaN/Inf", $"element {element}");
        Rejection.Expect<LlamaFormatException>(() => LlamaWeights.Load(folder, cpu).Dispose(), weights, tensor, "NaN/Inf");
    }

    [Fact]
    public void Finite_extremes_are_not_flagged_and_every_hit_is_counted()
    {
        string folder = _dir.File("extremes");
        TinyLlama.Write(folder, new TinyLlamaOptions { DType = DType.BF16 });
        string weights = Path.Combine(folder, ModelFolder.Weights);
        SafetensorsPoke.Element(weights, LlamaTensorNames.Up(0), 3, DType.BF16, "max");   // the largest finite BF16: exponent 0xFE
        SafetensorsPoke.Element(weights, LlamaTensorNames.Up(0), 4, DType.BF16, "-max");
        using (var file = SafetensorsFile.Open(weights)) Assert.Null(file.FindNonFinite(LlamaTensorNames.Up(0)));
        foreach (int at in new[] { 17, 18, 100, 1535 }) SafetensorsPoke.Element(weights, LlamaTensorNames.Up(0), at, DType.BF16, "nan");
        using (var file = SafetensorsFile.Open(weights)) Assert.Equal((17L, 4L), file.FindNonFinite(LlamaTensorNames.Up(0)));
    }
}
