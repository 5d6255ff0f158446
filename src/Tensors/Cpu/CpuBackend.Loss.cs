using System.Numerics.Tensors;

namespace LoRAM.Tensors.Cpu;

// Cross-entropy over a vocabulary row, fused with its log-sum-exp so that the logits are read twice in the
// forward pass (max, Σ exp) and once in the backward pass, and softmax is never stored.
public sealed unsafe partial class CpuBackend
{
    // lse = max + log Σ exp(x − max); loss = lse − x[target]; ignored rows lose 0 (their lse is still written).
    protected override void CrossEntropyCore(Tensor logits, Tensor targets, int ignoreIndex, Tensor losses, Tensor lse)
    {
        int n = logits.Rows, vocab = logits.Cols;
        CheckTargets(targets, n, vocab, ignoreIndex, "CrossEntropy");
        float* px = Ptr<float>(logits), pl = Ptr<float>(losses), plse = Ptr<float>(lse);
        int* pt = Ptr<int>(targets);
        ForRange(n, 2L * vocab, (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                float* row = px + (long)r * vocab;
                float max = TensorPrimitives.Max(new ReadOnlySpan<float>(row, vocab));
                float l = max + MathF.Log(ExpShifted(row, max, null, vocab));
                plse[r] = l;
                pl[r] = pt[r] == ignoreIndex ? 0f : l - row[pt[r]];
            }
        });
    }

    // dlogits = scale·(exp(x − lse) − onehot(target)); ignored rows are zero.
    protected override void CrossEntropyBackwardCore(Tensor logits, Tensor targets, Tensor lse, int ignoreIndex, float scale, Tensor dlogits)
    {
        int n = logits.Rows, vocab = logits.Cols;
        CheckTargets(targets, n, vocab, ignoreIndex, "CrossEntropyBackward");
        float* px = Ptr<float>(logits), plse = Ptr<float>(lse), pd = Ptr<float>(dlogits);
        int* pt = Ptr<int>(targets);
        ForRange(n, 2L * vocab, (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                float* row = px + (long)r * vocab, drow = pd + (long)r * vocab;
                int target = pt[r];
                if (target == ignoreIndex) { new Span<float>(drow, vocab).Clear(); continue; }
                ExpShifted(row, plse[r], drow, vocab);
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(drow, vocab), scale, new Span<float>(drow, vocab));
                drow[target] -= scale;
            }
        });
    }

    private static void CheckTargets(Tensor targets, int n, int vocab, int ignoreIndex, string kernel)
    {
        int* pt = Ptr<int>(targets);
        for (int r = 0; r < n; r++)
            if (pt[r] != ignoreIndex && (uint)pt[r] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), pt[r], $"{kernel}: target of row {r} outside a vocabulary of {vocab}");
    }
}
