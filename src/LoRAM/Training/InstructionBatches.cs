using System.Text.Json.Nodes;
using LoRAM.Autograd;
using LoRAM.Data;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Training;

/// <summary>
/// Supervised fine-tuning data: instruction examples through the one chat template (<see cref="InstructionTokens"/>),
/// each a sequence [BOS] prompt response [EOS]. A micro-batch right-pads its sequences to the longest of them (padding
/// never precedes a real token, so the causal mask alone keeps it out of every real token's view), and the targets
/// are the response tokens only: prompt positions and padding carry the ignore label, so the loss is the paper's
/// SFT loss on responses. Examples are visited in a seeded order, reshuffled each epoch; (epoch, index) is the state.
/// </summary>
public sealed class InstructionBatches : IBatchSource
{
    private readonly TokenizedExample[] _examples;
    private readonly int _pad;
    private int[] _order;

    public InstructionBatches(IReadOnlyList<InstructionRecord> records, ITokenizer tokenizer, int maxLength, int seed)
        : this(records.Select(r => InstructionTokens.Encode(tokenizer, r.ToExample(), maxLength)).ToArray(), tokenizer.PadId, maxLength, seed)
    {
    }

    /// <summary>Examples already tokenized (e.g. conversations through a chat template, with their loss masks).</summary>
    public InstructionBatches(TokenizedExample[] examples, int pad, int maxLength, int seed)
    {
        if (examples.Length == 0) throw new ArgumentException("no instruction examples to train on");
        _examples = examples;
        _pad = pad;
        SequenceLength = maxLength;
        Seed = seed;
        _order = Order(0);
    }

    /// <summary>The longest sequence (shorter batches are padded only to their own longest).</summary>
    public int SequenceLength { get; }
    public int Seed { get; }
    public int Examples => _examples.Length;
    public int Epoch { get; private set; }
    public int Index { get; private set; }
    /// <summary>Response tokens (targets) over all examples: one epoch's trained tokens.</summary>
    public long ResponseTokens => _examples.Sum(e => (long)e.TrainedTokens);

    public TokenBatch Next(int sequences)
    {
        var picked = new TokenizedExample[sequences];
        for (int s = 0; s < sequences; s++)
        {
            if (Index == _examples.Length) { Epoch++; Index = 0; _order = Order(Epoch); }
            picked[s] = _examples[_order[Index++]];
        }
        // Inputs are t₀..t_{n−2}, targets t₁..t_{n−1}; a target is trained when it is a response token.
        int t = picked.Max(e => e.Ids.Length) - 1;
        var inputs = new int[sequences * t];
        var targets = new int[sequences * t];
        Array.Fill(inputs, _pad);
        Array.Fill(targets, Ops.IgnoreIndex);
        for (int s = 0; s < sequences; s++)
        {
            var ids = picked[s].Ids;
            for (int i = 0; i + 1 < ids.Length; i++)
            {
                inputs[s * t + i] = ids[i];
                if (picked[s].IsTrained(i + 1)) targets[s * t + i] = ids[i + 1];
            }
        }
        return new TokenBatch(inputs, targets, sequences, t);
    }

    private int[] Order(int epoch)
    {
        var order = Enumerable.Range(0, _examples.Length).ToArray();
        Rng.For(Seed, $"instructions-order/{epoch}").Shuffle(order);
        return order;
    }

    public JsonObject SaveState() => new()
    {
        ["kind"] = "instructions",
        ["seed"] = Seed,
        ["examples"] = _examples.Length,
        ["max_length"] = SequenceLength,
        ["epoch"] = Epoch,
        ["index"] = Index,
    };

    public void LoadState(JsonObject state)
    {
        if (CheckpointFields.String(state, "kind", "data") != "instructions") throw new ArgumentException($"the checkpoint's data state is of kind '{state["kind"]}', not instructions");
        foreach (var (field, ours) in new[] { ("seed", (long)Seed), ("examples", _examples.Length), ("max_length", SequenceLength) })
        {
            long theirs = CheckpointFields.Long(state, field, long.MinValue, long.MaxValue, "data");
            if (theirs != ours) throw new ArgumentException($"the checkpoint's data has {field} = {theirs}, this run's {ours}");
        }
        Epoch = CheckpointFields.Int(state, "epoch", 0, int.MaxValue, "data");
        Index = CheckpointFields.Int(state, "index", 0, _examples.Length, "data");
        _order = Order(Epoch);
    }
}
