using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Tensors;

namespace LoRAM.Quantization;

/// <summary>
/// QLoRAM's in-memory path (paper Eq. 9): the dense frozen projections of a loaded model are replaced by NF4 ones,
/// so training reads 4-bit weights without a quantized folder on disk. Embedding, norms and LM head stay as loaded.
/// </summary>
public static class ProjectionQuantizer
{
    /// <summary>Quantizes every dense frozen q…down projection; returns (bytes before, bytes after).</summary>
    public static (long Before, long After) QuantizeProjections(LlamaModel model, bool doubleQuantization = true)
    {
        long before = 0, after = 0;
        foreach (var layer in model.Layers)
            foreach (var (module, projection) in layer.Projections.ToList())
            {
                if (projection is not FrozenLinear { Weight: DenseFrozenWeight dense } frozen) continue;
                var w = dense.Weight;
                var quantized = w.DType == DType.BF16
                    ? Nf4Quantizer.QuantizeBFloat16(w.ToArray<ushort>(), w.Dim(0), w.Dim(1), doubleQuantization)
                    : Nf4Quantizer.Quantize(Floats(w), w.Dim(0), w.Dim(1), doubleQuantization);
                var nf4 = Nf4FrozenWeight.Upload(model.Backend, quantized);
                before += dense.Bytes;
                after += nf4.Bytes;
                layer[module] = new FrozenLinear(frozen.Name, nf4);
                frozen.Dispose();
            }
        return (before, after);
    }

    private static float[] Floats(Tensor w)
    {
        if (w.DType == DType.F32) return w.ToFloatArray();
        using var f32 = w.Cast(DType.F32);
        return f32.ToFloatArray();
    }
}
