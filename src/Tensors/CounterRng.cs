using System.Runtime.CompilerServices;

namespace LoRAM.Tensors;

/// <summary>
/// A counter-based random stream: the value at (seed, index) is a pure function, so every element of a kernel
/// draws its own number with no shared state, in any order, on any backend. Dropout uses it so its mask is
/// never stored (the backward pass redraws it) and the CPU and ILGPU backends agree bit for bit.
/// </summary>
/// <remarks>The function is one step of splitmix64 (Steele, Lea &amp; Flood, 2014) from state
/// seed + (index+1)·γ, γ = 0x9E3779B97F4A7C15: exactly the (index+1)-th output of splitmix64 seeded with seed.
/// Integer arithmetic only, so ILGPU compiles it unchanged.</remarks>
public static class CounterRng
{
    /// <summary>64 random bits for element <paramref name="index"/> of stream <paramref name="seed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bits(ulong seed, long index)
    {
        unchecked
        {
            ulong z = seed + (ulong)(index + 1) * 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>Uniform in [0, 1): the top 24 bits of <see cref="Bits"/> times 2⁻²⁴ (exact in float32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Uniform(ulong seed, long index) => (Bits(seed, index) >> 40) * (1f / 16777216f);
}
