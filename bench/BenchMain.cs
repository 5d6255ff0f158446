namespace LoRAM.Bench;

internal static class BenchMain
{
    private static readonly Dictionary<string, (string Help, Func<string[], int> Run)> Suites = new()
    {
        ["block-step"] = ("one LoRA / full training step of a small LLaMA block, split by op", BlockStepBench.Run),
        ["train-step"] = ("one whole LLaMA training step (lora: BF16 frozen + r=8 on all projections; full: F32): tok/s, split by op, peak memory (--shape base|smollm-135m --mode lora|full --threads --steps --json)", TrainStepBench.Run),
        ["lora-parts"] = ("each kernel call of one LoRA linear fwd/bwd timed alone (--n --in --out --threads --reps)", LoraPartsBench.Run),
        ["attention"] = ("the CPU attention kernel alone, fwd and bwd, at a training shape (--b --t --hq --hkv --d --threads --reps)", AttentionBench.Run),
        ["ilgpu-check"] = ("every ILGPU kernel on --device cuda|ilgpu-cpu vs CpuBackend: error, pass/fail, device time, GFLOP/s", IlgpuCheck.Run),
        ["inference"] = ("prefill and decode tok/s of a random BF16 LLaMA vs the memory-bandwidth bound (--config smollm-135m|tinyllama-1.1b --threads --reps --json)", InferenceBench.Run),
        ["gemv-stream"] = ("the m = 1 BF16 GEMV over ~1 GiB of weights in GB/s vs the read-bandwidth probe (--n --k --threads --reps --group)", GemvStreamBench.Run),
        ["gemm"] = ("CPU GEMM GFLOP/s: square and LLaMA shapes, F32/BF16 B (--threads --kernel --reps --json --only)", GemmBench.Run),
        ["nf4-gemm"] = ("CPU NF4 GEMM vs the same W in BF16 on LLaMA shapes, 1 thread, medians (--threads --kernel --reps --json --only)", Nf4GemmBench.Run),
        ["sparsegpt"] = ("SparseGPT on a 2048×2048 layer: Hessian, factor, sweep (1 thread)", SparseGptBench.Run),
        ["tokenize"] = ("tokenizer.json encoding MB/s on a corpus, one thread, median of --reps (--folder --corpus --reps --json; peer: bench/peers/tokenize.mjs)", TokenizeBench.Run),
        ["prune-model"] = ("loram prune end to end on a random LLaMA, every method: seconds per pruned layer", PruneModelBench.Run),
    };

    public static int Run(string[] args)
    {
        if (args.Length == 0 || !Suites.TryGetValue(args[0], out var suite))
        {
            Console.Error.WriteLine("usage: LoRAM.Bench <suite> [options]");
            foreach (var (name, s) in Suites) Console.Error.WriteLine($"  {name,-12} {s.Help}");
            return args.Length == 0 ? 0 : 2;
        }
        return suite.Run(args[1..]);
    }
}
