using LoRAM.Tensors;

namespace LoRAM.Llama.Safetensors;

/// <summary>One tensor's header record: its safetensors dtype name, shape and byte range in the data section.</summary>
public sealed record SafetensorsEntry(string Name, string DTypeName, int[] Shape, long Begin, long End)
{
    /// <summary>Number of elements.</summary>
    public long Elements => Tensor.Elements(Shape);

    public long Bytes => End - Begin;

    /// <summary>The matching engine dtype, or null for dtypes the engine does not hold (I64 is widened on load).</summary>
    public DType? DType => DTypeInfo.TryParseSafetensors(DTypeName, out var t) ? t : null;

    public override string ToString() => $"{Name}: {DTypeName}[{string.Join(", ", Shape)}]";

    /// <summary>Element sizes of every dtype the safetensors format defines; any other name is an error.</summary>
    internal static int? ElementSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E4M3" or "F8_E5M2" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "I64" or "U64" or "F64" => 8,
        _ => null,
    };
}
