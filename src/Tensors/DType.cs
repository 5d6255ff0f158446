namespace LoRAM.Tensors;

/// <summary>Element types a <see cref="Tensor"/> can store. Compute is always <see cref="F32"/>;
/// <see cref="BF16"/> and <see cref="F16"/> store frozen weights; <see cref="I32"/> holds token ids and
/// indices; <see cref="U8"/> holds packed bytes (NF4 codes, bit masks).</summary>
public enum DType { F32, BF16, F16, I32, U8 }

public static class DTypeInfo
{
    /// <summary>Bytes of one element.</summary>
    public static int Size(this DType t) => t switch
    {
        DType.F32 or DType.I32 => 4,
        DType.BF16 or DType.F16 => 2,
        DType.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>The safetensors name of the dtype ("F32", "BF16", ...).</summary>
    public static string SafetensorsName(this DType t) => t switch
    {
        DType.F32 => "F32", DType.BF16 => "BF16", DType.F16 => "F16", DType.I32 => "I32", DType.U8 => "U8",
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    public static bool TryParseSafetensors(string name, out DType t)
    {
        switch (name)
        {
            case "F32": t = DType.F32; return true;
            case "BF16": t = DType.BF16; return true;
            case "F16": t = DType.F16; return true;
            case "I32": t = DType.I32; return true;
            case "U8": t = DType.U8; return true;
            default: t = default; return false;
        }
    }
}
