using System.Numerics;

namespace LoRAM.Llama.Safetensors;

/// <summary>NaN/Inf search over raw IEEE bits: x is non-finite ⇔ (bits &amp; exponentMask) == exponentMask.</summary>
internal static unsafe class NonFinite
{
    public static (long First, long Count)? Find<T>(T* p, long n, T exponentMask) where T : unmanaged, IBinaryInteger<T>
    {
        var mask = new Vector<T>(exponentMask);
        int width = Vector<T>.Count;
        long i = 0, first = -1, count = 0;
        // Fast path: whole vectors with no hit cost one AND, one compare and one test each.
        for (; i + width <= n; i += width)
        {
            var v = Vector.Load(p + i);
            if (!Vector.EqualsAny(v & mask, mask)) continue;
            for (int k = 0; k < width; k++)
                if ((p[i + k] & exponentMask) == exponentMask) { if (first < 0) first = i + k; count++; }
        }
        for (; i < n; i++)
            if ((p[i] & exponentMask) == exponentMask) { if (first < 0) first = i; count++; }
        return first < 0 ? null : (first, count);
    }
}
