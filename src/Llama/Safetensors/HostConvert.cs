using System.Runtime.InteropServices;
using LoRAM.Tensors;

namespace LoRAM.Llama.Safetensors;

/// <summary>Float format conversion of checkpoint bytes on the host (F32, BF16, F16; round to nearest even).</summary>
internal static unsafe class HostConvert
{
    public static void Run(DType from, byte* source, DType to, Span<byte> destination, int count)
    {
        var dst = destination;
        for (int i = 0; i < count; i++)
        {
            float x = from switch
            {
                DType.F32 => ((float*)source)[i],
                DType.BF16 => BFloat16.ToSingle(((ushort*)source)[i]),
                DType.F16 => (float)BitConverter.UInt16BitsToHalf(((ushort*)source)[i]),
                _ => throw new ArgumentOutOfRangeException(nameof(from)),
            };
            switch (to)
            {
                case DType.F32: MemoryMarshal.Cast<byte, float>(dst)[i] = x; break;
                case DType.BF16: MemoryMarshal.Cast<byte, ushort>(dst)[i] = BFloat16.FromSingle(x); break;
                case DType.F16: MemoryMarshal.Cast<byte, ushort>(dst)[i] = BitConverter.HalfToUInt16Bits((Half)x); break;
                default: throw new ArgumentOutOfRangeException(nameof(to));
            }
        }
    }
}
