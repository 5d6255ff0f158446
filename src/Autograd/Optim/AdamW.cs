using LoRAM.Tensors;

namespace LoRAM.Autograd.Optim;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019, torch.optim.AdamW), step t counted from 1:
///   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
///   p = p − lr·(wd·p + m̂ / (√v̂ + eps)),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t).
/// Weight decay is decoupled: applied to p directly, not folded into g. One fused kernel per parameter.
/// </summary>
public sealed class AdamW : Optimizer
{
    private readonly Dictionary<Var, (Tensor M, Tensor V)> _state = new();

    public AdamW(IReadOnlyList<Var> parameters, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
        : base(parameters)
    {
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay;
    }

    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    public float WeightDecay { get; }

    public override long StateBytes => _state.Values.Sum(s => s.M.Bytes + s.V.Bytes);

    public override void Step(float lr)
    {
        StepCount++;
        // Bias corrections in double: β2^t underflows float precision long before training ends.
        float bc1 = (float)(1 - Math.Pow(Beta1, StepCount));
        float bc2 = (float)(1 - Math.Pow(Beta2, StepCount));
        foreach (var p in Parameters)
        {
            if (p.Grad is null) continue;
            var (m, v) = State(p);
            p.Backend.AdamW(p.Value, p.Grad, m, v, lr, Beta1, Beta2, Eps, WeightDecay, bc1, bc2);
        }
    }

    private (Tensor M, Tensor V) State(Var p)
    {
        if (!_state.TryGetValue(p, out var s))
            _state[p] = s = (Tensor.Zeros(p.Backend, p.Value.ShapeArray()), Tensor.Zeros(p.Backend, p.Value.ShapeArray()));
        return s;
    }

    protected override IEnumerable<(string Name, Tensor State)> Slots()
    {
        foreach (var p in Parameters)
            if (_state.TryGetValue(p, out var s))
            {
                yield return (ParamName(p) + ".exp_avg", s.M);
                yield return (ParamName(p) + ".exp_avg_sq", s.V);
            }
    }

    protected override void LoadSlots(Var p, IReadOnlyDictionary<string, Tensor> state)
    {
        if (_state.Remove(p, out var old)) { old.M.Dispose(); old.V.Dispose(); }
        string n = ParamName(p);
        if (state.TryGetValue(n + ".exp_avg", out var m) && state.TryGetValue(n + ".exp_avg_sq", out var v))
            _state[p] = (CopyFor(p, m), CopyFor(p, v));
    }

    public override void Dispose()
    {
        foreach (var (m, v) in _state.Values) { m.Dispose(); v.Dispose(); }
        _state.Clear();
    }
}
