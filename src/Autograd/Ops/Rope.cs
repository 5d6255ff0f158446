using LoRAM.Tensors;

namespace LoRAM.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Rotary position embedding (rotate-half layout) on x [tokens, heads, headDim] (or [B, T, heads, headDim] with
    /// positions for all B·T tokens): a rotation by θ(position, i) of each pair (x[i], x[i+h]).
    /// Backward: a rotation is orthogonal, so dx = R(−θ)·dy, the same kernel with <c>inverse</c>. Nothing is saved.
    /// </summary>
    public static Var Rope(this Tape tape, Var x, Tensor cos, Tensor sin, Tensor positions)
    {
        using var _ = tape.Profile("rope");
        var be = tape.Backend;
        int d = x.Value.Dim(-1), h = x.Value.Dim(-2);
        var y = Tensor.Empty(be, x.Value.ShapeArray());
        using (var x3 = x.Value.Reshape(-1, h, d))
        using (var y3 = y.Reshape(-1, h, d))
            be.Rope(x3, cos, sin, positions, false, y3);
        return tape.Record("rope", y, [x], dy => Gradients.Accumulate(x, dx =>
        {
            using var dy3 = dy.Reshape(-1, h, d);
            using var dx3 = dx.Reshape(-1, h, d);
            be.Rope(dy3, cos, sin, positions, true, dx3);
        }));
    }

    /// <summary>
    /// The cos and sin tables [maxPositions, headDim/2] for <see cref="Rope"/>: θ(p, i) = p·base^(−2i/headDim)
    /// (LLaMA, base 10000 or the config's rope_theta). Computed in double on the host.
    /// </summary>
    public static (Tensor Cos, Tensor Sin) RopeTables(Backend backend, int maxPositions, int headDim, double theta = 10000.0)
    {
        int h = headDim / 2;
        var c = new float[maxPositions * h];
        var s = new float[maxPositions * h];
        for (int p = 0; p < maxPositions; p++)
            for (int i = 0; i < h; i++)
            {
                double angle = p * Math.Pow(theta, -2.0 * i / headDim);
                c[p * h + i] = (float)Math.Cos(angle);
                s[p * h + i] = (float)Math.Sin(angle);
            }
        return (Tensor.FromArray(backend, c, maxPositions, h), Tensor.FromArray(backend, s, maxPositions, h));
    }
}
