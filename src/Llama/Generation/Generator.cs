using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Tensors;

namespace LoRAM.Llama.Generation;

/// <summary>One generated token and how long it took (the first one includes the prompt's prefill).</summary>
public readonly record struct GeneratedToken(int Id, double Seconds);

/// <summary>
/// Autoregressive decoding with a KV cache: one forward pass over the prompt (prefill), then one pass per new
/// token over just that token (decode), sampling each next token from the last position's logits. Stops at an
/// end-of-sequence id or after the token budget.
/// </summary>
public static class Generator
{
    public static IEnumerable<GeneratedToken> Generate(LlamaModel model, IReadOnlyList<int> prompt, int maxNewTokens,
        SamplingOptions sampling, IReadOnlySet<int> stopIds)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt has no tokens (a tokenizer adds BOS; an empty prompt needs one)");
        if (maxNewTokens <= 0) yield break;
        sampling.Validate();
        var sampler = new Sampler(sampling);
        var backend = model.Backend;
        using var cache = new KvCache(backend, model.Config, prompt.Count + maxNewTokens);
        var logits = new float[model.Config.VocabSize];
        var input = prompt.ToArray();
        for (int produced = 0; produced < maxNewTokens; produced++)
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            using (var tape = new Tape(backend))
            using (tape.NoGrad())
            using (var tokens = Tensor.FromArray(backend, input, 1, input.Length))
            {
                var last = model.Forward(tape, tokens, cache, lastPositionOnly: true);
                backend.Download(last.Value, System.Runtime.InteropServices.MemoryMarshal.AsBytes(logits.AsSpan()));
            }
            int next = sampler.Next(logits);
            yield return new GeneratedToken(next, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (stopIds.Contains(next)) yield break;
            input = [next];
        }
    }
}
