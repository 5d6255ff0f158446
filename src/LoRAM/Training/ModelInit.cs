using System.Diagnostics;
using System.Runtime.InteropServices;
using LoRAM.Data;
using LoRAM.Llama;
using LoRAM.Llama.Safetensors;
using LoRAM.Progress;
using LoRAM.Tensors;

namespace LoRAM.Training;

/// <summary>What <c>loram init</c> is asked to write.</summary>
public sealed record InitOptions
{
    /// <summary>The shape (a built-in name resolved by <see cref="Planning.ModelPresets.Resolve"/>, a config.json, a folder).</summary>
    public required LlamaConfig Config { get; init; }
    public required string Out { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Stored dtype of every tensor (BF16 as the published checkpoints, or F32).</summary>
    public DType DType { get; init; } = DType.BF16;
    /// <summary>A folder whose tokenizer files are copied along (none: the folder serves commands that need no text).</summary>
    public string? Tokenizer { get; init; }
    /// <summary>Largest shard, Hugging Face's <c>max_shard_size</c> ("2GB" = 2·10⁹ bytes); above it the weights are sharded with an index.</summary>
    public long MaxShardBytes { get; init; } = 2_000_000_000;
}

/// <summary>What <c>loram init</c> wrote.</summary>
public sealed record InitReport(string Out, long Parameters, long Bytes, string Dtype, int Seed, IReadOnlyList<string> Files,
    IReadOnlyList<string> TokenizerFiles, double Seconds);

/// <summary>
/// A random-weight model folder of any LLaMA shape, in Hugging Face's layout, for measuring real sizes on one
/// machine without downloading them. Weights are <see cref="LlamaInitializer"/>'s (N(0, σ²) from a stream named by
/// (seed, tensor name), RMSNorm gains 1), so an F32 folder holds exactly <see cref="LlamaInitializer.Create"/>'s
/// weights. Written streaming: each shard's header first (sizes follow from the config), then each tensor in
/// pieces of <see cref="PieceElements"/>, so memory stays a few MB whatever the model's size. The folder appears
/// complete or not at all (<see cref="AtomicFolder"/>).
/// </summary>
public static class ModelInit
{
    /// <summary>Elements drawn, converted and written at a time (even, so the normal draws continue across pieces).</summary>
    internal const int PieceElements = 1 << 20;

    public static InitReport Run(InitOptions o, IProgressReporter? progress = null)
    {
        progress ??= LineProgress.None;
        if (o.DType is not (DType.F32 or DType.BF16)) throw new UserInputException($"--dtype must be f32 or bf16, not {o.DType}");
        if (o.MaxShardBytes <= 0) throw new UserInputException($"the largest shard must be positive, got {o.MaxShardBytes} bytes");
        var outFull = Path.GetFullPath(o.Out);
        if (File.Exists(outFull)) throw new UserInputException($"{o.Out}: is a file, --out needs a folder");
        if (Directory.Exists(outFull) && Directory.EnumerateFileSystemEntries(outFull).Any())
            throw new UserInputException($"{o.Out}: already exists and is not empty; choose a new --out");
        if (o.Tokenizer is { } tok && !ModelFolder.TokenizerFiles.Any(f => File.Exists(Path.Combine(tok, f))))
            throw new UserInputException($"{tok}: no tokenizer files ({string.Join(", ", ModelFolder.TokenizerFiles)})");
        var clock = Stopwatch.StartNew();
        var config = o.Config with { TorchDtype = o.DType == DType.BF16 ? "bfloat16" : "float32" };
        config.Validate("--config");
        double std = LlamaInitializer.StdOf(config);

        var entries = LlamaTensorNames.Expected(config).Select(e => new SafetensorsStreamWriter.Entry(e.Name, o.DType, e.Shape)).ToList();
        var shards = SafetensorsStreamWriter.PlanShards(entries, o.MaxShardBytes);
        var (files, tokenizerFiles) = AtomicFolder.Write(outFull, tmp =>
        {
            var written = new List<string>();
            using var task = progress.Start("init", entries.Count);
            int done = 0;
            var floats = new float[PieceElements];
            var bytes = new byte[PieceElements * o.DType.Size()];
            foreach (var (file, shardEntries) in shards)
            {
                using var writer = SafetensorsStreamWriter.Create(Path.Combine(tmp, file), shardEntries, new Dictionary<string, string> { ["format"] = "pt" });
                foreach (var e in writer.Entries)
                {
                    var rng = Rng.For(o.Seed, "init/" + e.Name);
                    long total = Tensor.Elements(e.Shape);
                    for (long at = 0; at < total; at += PieceElements)
                    {
                        int n = (int)Math.Min(PieceElements, total - at);
                        var piece = floats.AsSpan(0, n);
                        if (e.Shape.Length == 1) piece.Fill(1f);   // RMSNorm gains
                        else LlamaInitializer.FillNormal(piece, std, rng);
                        writer.Append(e.Name, Encode(piece, o.DType, bytes));
                    }
                    task.Update(++done, e.Name);
                }
                writer.Commit();
                written.Add(file);
            }
            if (shards.Count > 1) written.Add(SafetensorsStreamWriter.WriteIndex(tmp, shards));
            config.Save(Path.Combine(tmp, ModelFolder.Config));
            written.Add(ModelFolder.Config);
            var copied = o.Tokenizer is { } from ? ModelFolder.CopyTokenizerFiles(from, tmp) : [];
            return (written, copied);
        });
        progress.Line($"init: {config.ParameterCount():N0} parameters in {files.Count(f => f.EndsWith(".safetensors"))} file(s) at {outFull}");
        return new InitReport(outFull, config.ParameterCount(), entries.Sum(e => e.Bytes), o.DType == DType.BF16 ? "bf16" : "f32", o.Seed,
            files, tokenizerFiles, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The little-endian bytes of <paramref name="values"/> in <paramref name="dtype"/> (BF16: round to nearest even).</summary>
    private static ReadOnlySpan<byte> Encode(ReadOnlySpan<float> values, DType dtype, byte[] buffer)
    {
        if (dtype == DType.F32) return MemoryMarshal.AsBytes(values);
        var bits = MemoryMarshal.Cast<byte, ushort>(buffer.AsSpan(0, values.Length * 2));
        for (int i = 0; i < values.Length; i++) bits[i] = BFloat16.FromSingle(values[i]);
        return buffer.AsSpan(0, values.Length * 2);
    }
}
