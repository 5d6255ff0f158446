namespace LoRAM.Tensors.Cpu;

public sealed unsafe partial class CpuBackend
{
    // RoPE (Su et al. 2021) in Hugging Face's rotate-half layout: the pair (x[i], x[i+h]) is rotated by θ(pos, i).
    // A rotation's inverse is the rotation by −θ (its transpose), which is therefore the backward pass.
    protected override void RopeCore(Tensor x, Tensor cos, Tensor sin, Tensor positions, bool inverse, Tensor y)
    {
        int tokens = x.Dim(0), heads = x.Dim(1), headDim = x.Dim(2), h = headDim / 2;
        int maxPositions = cos.Rows;
        float* px = Ptr<float>(x), pc = Ptr<float>(cos), ps = Ptr<float>(sin), py = Ptr<float>(y);
        int* pp = Ptr<int>(positions);
        for (int t = 0; t < tokens; t++)
            if ((uint)pp[t] >= (uint)maxPositions)
                throw new ArgumentOutOfRangeException(nameof(positions), pp[t], $"Rope: position outside the {maxPositions}-entry tables");
        float sign = inverse ? -1f : 1f;
        ForRange(tokens, (long)heads * headDim, (s, e) =>
        {
            for (int t = s; t < e; t++)
            {
                float* c = pc + (long)pp[t] * h, sn = ps + (long)pp[t] * h;
                for (int hd = 0; hd < heads; hd++)
                {
                    long o = ((long)t * heads + hd) * headDim;
                    for (int i = 0; i < h; i++)
                    {
                        float a = px[o + i], b = px[o + i + h], si = sign * sn[i];
                        py[o + i] = a * c[i] - b * si;
                        py[o + i + h] = b * c[i] + a * si;
                    }
                }
            }
        });
    }
}
