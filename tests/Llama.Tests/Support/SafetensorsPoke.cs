using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;

namespace LoRAM.Llama.Tests.Support;

/// <summary>In-place edits of one element of a safetensors file, for corruption tests.</summary>
public static class SafetensorsPoke
{
    /// <summary>Overwrites element <paramref name="element"/> of a tensor in place.</summary>
    public static void Element(string path, string tensor, int element, DType dtype, string value)
    {
        long offset;
        using (var file = SafetensorsFile.Open(path))
        {
            var e = file[tensor];
            Assert.Equal(dtype, e.DType);
            using var fs0 = File.OpenRead(path);
            var len = new byte[8];
            fs0.ReadExactly(len);
            offset = 8 + BitConverter.ToInt64(len) + e.Begin + (long)element * dtype.Size();
        }
        float f = value switch
        {
            "nan" => float.NaN, "-nan" => -float.NaN, "inf" => float.PositiveInfinity, "-inf" => float.NegativeInfinity,
            "max" => dtype == DType.BF16 ? BFloat16.ToSingle(0x7F7F) : float.MaxValue, "-max" => dtype == DType.BF16 ? BFloat16.ToSingle(0xFF7F) : -float.MaxValue,
            _ => throw new ArgumentException(value),
        };
        byte[] bytes = dtype switch
        {
            DType.F32 => BitConverter.GetBytes(f),
            DType.BF16 => BitConverter.GetBytes(BFloat16.FromSingle(f)),
            DType.F16 => BitConverter.GetBytes(BitConverter.HalfToUInt16Bits((Half)f)),
            _ => throw new ArgumentException($"{dtype}"),
        };
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Write);
        fs.Position = offset;
        fs.Write(bytes);
    }
}
