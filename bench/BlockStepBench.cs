using System.Diagnostics;
using System.Text.Json;
using LoRAM.Autograd;
using LoRAM.Autograd.Optim;
using LoRAM.Tensors;

namespace LoRAM.Bench;

/// <summary>
/// <c>block-step</c>: one training step (forward + backward + AdamW) of a small LLaMA-like transformer block —
/// pre-norm attention (RoPE, causal, 4 heads) and SwiGLU MLP with residuals — once with LoRA (r = 8 on all seven
/// projections, frozen BF16 base weights) and once with every weight trainable (F32). Reports the median step
/// time, the time split by op (OpProfiler, which synchronises around each op), and peak device memory.
/// Usage: block-step [--device cpu|cuda|ilgpu-cpu] [--steps N] [--tokens T] [--json]
/// </summary>
internal static class BlockStepBench
{
    private const int D = 256, Heads = 4, Ff = 688, Rank = 8;

    public static int Run(string[] args)
    {
        string? device = BenchArgs.Option(args, "--device");
        int steps = BenchArgs.Int(args, "--steps", 10);
        int tokens = BenchArgs.Int(args, "--tokens", 128);
        bool json = args.Contains("--json");
        using var backend = Backends.Create(device);
        var results = new[] { Measure(backend, lora: true, tokens, steps), Measure(backend, lora: false, tokens, steps) };
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new { suite = "block-step", device = backend.Name, d = D, heads = Heads, ff = Ff, tokens, rank = Rank, steps, results },
                new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
            return 0;
        }
        Console.WriteLine($"block-step on {backend.Name}: d={D}, heads={Heads}, ff={Ff}, tokens={tokens}, LoRA r={Rank}, median of {steps} steps");
        foreach (var r in results)
        {
            Console.WriteLine($"\n{r.Mode}: step median {r.StepMs:F2} ms, min {r.MinStepMs:F2} ms (profiled {r.ProfiledStepMs:F2} ms), trainable {r.TrainableParams:N0} params, peak live {r.PeakLiveBytes / 1024.0 / 1024.0:F2} MiB");
            Console.WriteLine("  peak by category: " + string.Join(", ", r.PeakBytesByCategory.Select(kv => $"{kv.Key} {kv.Value / 1024.0:F0} KiB")));
            Console.WriteLine($"  {"op",-14} {"fwd ms",9} {"bwd ms",9} {"share",7}");
            foreach (var op in r.Ops) Console.WriteLine($"  {op.Op,-14} {op.ForwardMs,9:F3} {op.BackwardMs,9:F3} {op.Share,6:P1}");
        }
        return 0;
    }

    internal sealed record OpTime(string Op, double ForwardMs, double BackwardMs, double Share);
    internal sealed record Result(string Mode, double StepMs, double MinStepMs, double ProfiledStepMs, long TrainableParams, long PeakLiveBytes,
        Dictionary<string, long> PeakBytesByCategory, OpTime[] Ops);

    private static Result Measure(Backend be, bool lora, int tokens, int steps)
    {
        var rng = new Random(1);
        Tensor Rand(float scale, params int[] shape) =>
            Tensor.FromArray(be, Enumerable.Range(0, (int)Tensor.Elements(shape)).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray(), shape);

        var block = new Block(be, lora, Rand);
        using var x = Var.Constant(Rand(1f, tokens, D), "x");
        using var dOut = Rand(1f, tokens, D);
        using var positions = Tensor.FromArray(be, Enumerable.Range(0, tokens).ToArray(), tokens);
        var (cos, sin) = Ops.RopeTables(be, tokens, D / Heads);
        using var opt = new AdamW(block.Parameters, weightDecay: 0f);
        var profiler = new OpProfiler { Enabled = false };
        var ledger = new MemoryLedger();
        block.Register(ledger);
        ledger.AddOptimizer(opt);

        void Step()
        {
            using var tape = new Tape(be, profiler) { Ledger = ledger };
            var y = block.Forward(tape, x, cos, sin, positions);
            tape.Backward(y, dOut);
            using (profiler.Enabled ? profiler.Start(be, "adamw", backward: true) : default)
                opt.Step(1e-4f);
            opt.ZeroGrad();
        }

        for (int i = 0; i < 40; i++) Step();   // warm-up: tiered JIT (tier 1 after 30 calls), ILGPU kernel compilation, the pool
        be.ResetPeak();
        var times = new List<double>();
        for (int i = 0; i < steps; i++)
        {
            var sw = Stopwatch.StartNew();
            Step();
            be.Synchronize();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        long peak = be.Memory.PeakLiveBytes;
        profiler.Enabled = true;
        for (int i = 0; i < steps; i++) Step();
        double total = profiler.Total.TotalMilliseconds;
        var ops = profiler.Entries.Select(e => new OpTime(e.Op, e.Forward.TotalMilliseconds / steps, e.Backward.TotalMilliseconds / steps, e.Total.TotalMilliseconds / total)).ToArray();
        times.Sort();
        var result = new Result(lora ? "lora" : "full", times[times.Count / 2], times[0], total / steps,
            block.Parameters.Sum(p => p.Value.Length), peak, ledger.PeakByCategory().Where(kv => kv.Value > 0).ToDictionary(), ops);
        cos.Dispose(); sin.Dispose();
        block.Dispose();
        return result;
    }

    /// <summary>A LLaMA decoder block: h = x + Wo·attn(rope(Wq·n1(x)), rope(Wk·n1(x)), Wv·n1(x)); y = h + Wd·swiglu(Wg·n2(h), Wu·n2(h)).</summary>
    private sealed class Block : IDisposable
    {
        private readonly Dictionary<string, FrozenWeight> _frozen = new();
        private readonly Dictionary<string, Var> _full = new(), _a = new(), _b = new();
        private readonly Var _norm1, _norm2;
        private readonly bool _lora;

        public Block(Backend be, bool lora, Func<float, int[], Tensor> rand)
        {
            _lora = lora;
            var shapes = new Dictionary<string, (int Out, int In)>
            {
                ["q"] = (D, D), ["k"] = (D, D), ["v"] = (D, D), ["o"] = (D, D), ["gate"] = (Ff, D), ["up"] = (Ff, D), ["down"] = (D, Ff),
            };
            foreach (var (name, (o, i)) in shapes)
            {
                float scale = 1f / MathF.Sqrt(i);
                if (lora)
                {
                    using var w = rand(scale, [o, i]);
                    _frozen[name] = new DenseFrozenWeight(w.Cast(DType.BF16));
                    _a[name] = Var.Parameter(rand(scale, [Rank, i]), name + ".lora_A");
                    _b[name] = Var.Parameter(rand(0.01f, [o, Rank]), name + ".lora_B");
                }
                else _full[name] = Var.Parameter(rand(scale, [o, i]), name + ".weight");
            }
            _norm1 = lora ? Var.Constant(Tensor.Full(be, 1f, D)) : Var.Parameter(Tensor.Full(be, 1f, D), "norm1");
            _norm2 = lora ? Var.Constant(Tensor.Full(be, 1f, D)) : Var.Parameter(Tensor.Full(be, 1f, D), "norm2");
        }

        public IReadOnlyList<Var> Parameters => _lora
            ? _a.Values.Concat(_b.Values).ToList()
            : _full.Values.Append(_norm1).Append(_norm2).ToList();

        public void Register(MemoryLedger ledger)
        {
            foreach (var w in _frozen.Values) ledger.AddFrozen(w);
            if (_lora) { ledger.AddFrozen(_norm1.Value); ledger.AddFrozen(_norm2.Value); }
            ledger.AddParameters(Parameters);
        }

        private Var Project(Tape t, Var x, string name) =>
            _lora ? t.LoraLinear(x, _frozen[name], _a[name], _b[name], scaling: 2f) : t.Linear(x, _full[name]);

        public Var Forward(Tape t, Var x, Tensor cos, Tensor sin, Tensor positions)
        {
            int n = x.Value.Dim(0), hd = D / Heads;
            var a = t.RmsNorm(x, _norm1);
            var q = t.Rope(t.Reshape(Project(t, a, "q"), 1, n, Heads, hd), cos, sin, positions);
            var k = t.Rope(t.Reshape(Project(t, a, "k"), 1, n, Heads, hd), cos, sin, positions);
            var v = t.Reshape(Project(t, a, "v"), 1, n, Heads, hd);
            var attn = t.Reshape(t.Attention(q, k, v), n, D);
            var h = t.Add(x, Project(t, attn, "o"));
            var m = t.RmsNorm(h, _norm2);
            var mlp = Project(t, t.SwiGlu(Project(t, m, "gate"), Project(t, m, "up")), "down");
            return t.Add(h, mlp);
        }

        public void Dispose()
        {
            foreach (var w in _frozen.Values) w.Dispose();
            foreach (var p in _full.Values.Concat(_a.Values).Concat(_b.Values)) p.Dispose();
            _norm1.Dispose(); _norm2.Dispose();
        }
    }
}
