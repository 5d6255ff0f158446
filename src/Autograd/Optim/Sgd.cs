using LoRAM.Tensors;

namespace LoRAM.Autograd.Optim;

/// <summary>
/// Stochastic gradient descent as torch.optim.SGD (no dampening, no Nesterov):
///   g' = g + wd·p;  buf = μ·buf + g' (buf = g' on the first step);  p = p − lr·buf   (μ = 0: p = p − lr·g').
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly Dictionary<Var, Tensor> _momentum = new();

    public Sgd(IReadOnlyList<Var> parameters, float momentum = 0f, float weightDecay = 0f) : base(parameters)
    {
        Momentum = momentum; WeightDecay = weightDecay;
    }

    public float Momentum { get; }
    public float WeightDecay { get; }

    public override long StateBytes => _momentum.Values.Sum(t => t.Bytes);

    public override void Step(float lr)
    {
        StepCount++;
        foreach (var p in Parameters)
        {
            if (p.Grad is null) continue;
            var be = p.Backend;
            using var g = p.Grad.Clone();
            if (WeightDecay != 0f) be.Axpy(WeightDecay, p.Value, g);
            if (Momentum == 0f) { be.Axpy(-lr, g, p.Value); continue; }
            if (!_momentum.TryGetValue(p, out var buf)) _momentum[p] = buf = g.Clone();
            else { be.Scale(buf, Momentum, buf); be.Add(buf, g, buf); }
            be.Axpy(-lr, buf, p.Value);
        }
    }

    protected override IEnumerable<(string Name, Tensor State)> Slots()
    {
        foreach (var p in Parameters)
            if (_momentum.TryGetValue(p, out var b)) yield return (ParamName(p) + ".momentum_buffer", b);
    }

    protected override void LoadSlots(Var p, IReadOnlyDictionary<string, Tensor> state)
    {
        if (_momentum.Remove(p, out var old)) old.Dispose();
        if (state.TryGetValue(ParamName(p) + ".momentum_buffer", out var b)) _momentum[p] = CopyFor(p, b);
    }

    public override void Dispose()
    {
        foreach (var t in _momentum.Values) t.Dispose();
        _momentum.Clear();
    }
}
