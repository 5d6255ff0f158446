using LoRAM.Tensors;

namespace LoRAM.Autograd;

/// <summary>
/// Activation checkpointing (Chen et al. 2016, torch.utils.checkpoint): a block's forward runs without recording,
/// so only its inputs and output stay alive; its backward re-runs the block on a private tape with recording on
/// and back-propagates through that. Memory for a stack of blocks drops from every block's activations to one
/// block's, for the price of a second forward. The block must be deterministic given its inputs (dropout seeds
/// are passed in, so it is), and must reach its parameters through the Vars it closes over: their gradients
/// accumulate directly.
/// </summary>
public static class Checkpoint
{
    /// <summary>Runs <paramref name="block"/> on <paramref name="input"/>, checkpointed when <paramref name="enabled"/>.</summary>
    public static Var Run(Tape tape, Func<Tape, Var, Var> block, Var input, bool enabled = true) =>
        Run(tape, (t, xs) => block(t, xs[0]), [input], enabled);

    /// <summary>Runs <paramref name="block"/> on several inputs, checkpointed when <paramref name="enabled"/>
    /// (and the tape is recording; under no-grad it simply runs).</summary>
    public static Var Run(Tape tape, Func<Tape, Var[], Var> block, Var[] inputs, bool enabled = true)
    {
        if (!enabled || !tape.GradEnabled) return block(tape, inputs);

        Tensor output;
        using (var forward = new Tape(tape.Backend, tape.Profiler))
        using (forward.NoGrad())
        {
            var y = block(forward, inputs);
            output = y.Value.Reshape(y.Value.ShapeArray());   // a view outlives the private tape
        }

        // Every input is kept (a view each); the recorded op always needs a gradient, because the block's own
        // parameters are only discovered when it is re-run.
        var keep = inputs.Select(v => v.Value.Reshape(v.Value.ShapeArray())).ToArray();
        return tape.Record("checkpoint", output, anyInputNeedsGrad: true, dy =>
        {
            using var replay = new Tape(tape.Backend, tape.Profiler);
            var leaves = inputs.Select((v, i) => replay.Own(v.RequiresGrad
                ? Var.Parameter(keep[i].Reshape(keep[i].ShapeArray()), v.Name)
                : Var.Constant(keep[i].Reshape(keep[i].ShapeArray()), v.Name))).ToArray();
            var y = block(replay, leaves);
            if (y.RequiresGrad) replay.Backward(y, dy);
            for (int i = 0; i < inputs.Length; i++)
                if (leaves[i].Grad is { } g) Gradients.AccumulateCopy(inputs[i], g);
        }, keep);
    }
}
