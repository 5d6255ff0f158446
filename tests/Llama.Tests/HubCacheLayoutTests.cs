using System.Security.Cryptography;
using LoRAM.Autograd;
using LoRAM.Llama.Model;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Tokenization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Tests;

/// <summary>
/// Hugging Face's hub cache: <c>models--org--name/snapshots/&lt;rev&gt;/</c> holds only relative symbolic links into
/// <c>../../blobs/&lt;sha256&gt;</c>. A folder made that way — config.json, tokenizer, single or sharded weights with
/// their index — must load as the real files do, with the same logits; a dangling link is a one-line error naming it.
/// (Reading a link's own size instead of its target's made model.safetensors look 12 bytes long.)
/// </summary>
public sealed class HubCacheLayoutTests : IDisposable
{
    private readonly TempFolder _dir = new("loram-hub-cache");
    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_snapshot_of_relative_links_into_blobs_loads_with_the_same_logits(bool sharded)
    {
        string real = _dir.File("real");
        TinyLlama.Write(real, new TinyLlamaOptions { DType = DType.BF16 });
        if (sharded)
        {
            using var cpu0 = new CpuBackend(1);
            using var w = LlamaWeights.Load(real, cpu0);
            string resharded = _dir.File("sharded");
            w.Save(resharded, tokenizerFrom: real, maxShardBytes: 20_000);
            real = resharded;
            Assert.True(File.Exists(Path.Combine(real, ModelFolder.WeightsIndex)));
        }
        string snapshot = HubSnapshot(real);
        Assert.All(Directory.GetFiles(snapshot), f => Assert.NotNull(new FileInfo(f).LinkTarget));
        Assert.True(new FileInfo(Path.Combine(snapshot, sharded ? ModelFolder.WeightsIndex : ModelFolder.Weights)).Length < 200);   // the link itself

        using var cpu = new CpuBackend(2);
        Assert.Equal(LlamaConfig.Load(Path.Combine(real, ModelFolder.Config)).ToJson(), LlamaConfig.Load(Path.Combine(snapshot, ModelFolder.Config)).ToJson());
        int[] tokens = [256, 72, 105, 33, 10, 200, 3];
        Assert.Equal(Tokenizers.Load(real).Encode("hub cache", addBos: true), Tokenizers.Load(snapshot).Encode("hub cache", addBos: true));
        using var fromReal = LlamaModel.Load(real, cpu);
        using var fromLinks = LlamaModel.Load(snapshot, cpu);
        Assert.Equal(Logits(fromReal, tokens), Logits(fromLinks, tokens));
    }

    [Fact]
    public void A_dangling_weights_link_is_a_one_line_error_naming_the_link_and_its_target()
    {
        string real = _dir.File("real");
        TinyLlama.Write(real);
        string snapshot = HubSnapshot(real);
        string link = Path.Combine(snapshot, ModelFolder.Weights);
        string blob = Path.GetFullPath(Path.Combine(snapshot, new FileInfo(link).LinkTarget!));
        File.Delete(blob);
        using var cpu = new CpuBackend(1);
        Rejection.Expect<LlamaFormatException>(() => SafetensorsFile.Open(link).Dispose(), ModelFolder.Weights);
        Rejection.Expect<LlamaFormatException>(() => LlamaModel.Load(snapshot, cpu).Dispose(), ModelFolder.Weights);
    }

    /// <summary>models--tiny/blobs/&lt;sha256&gt; for every file of <paramref name="folder"/>, and
    /// models--tiny/snapshots/main/&lt;name&gt; → ../../blobs/&lt;sha256&gt;, as huggingface_hub lays them out.</summary>
    private string HubSnapshot(string folder)
    {
        string repo = _dir.File($"models--tiny-{Guid.NewGuid():N}"), blobs = Path.Combine(repo, "blobs"), snapshot = Path.Combine(repo, "snapshots", "main");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        foreach (var file in Directory.GetFiles(folder))
        {
            string hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            File.Copy(file, Path.Combine(blobs, hash), overwrite: true);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), Path.Combine("..", "..", "blobs", hash));
        }
        return snapshot;
    }

    private static float[] Logits(LlamaModel model, int[] tokens)
    {
        using var tape = new Tape(model.Backend);
        using var _ = tape.NoGrad();
        using var ids = Tensor.FromArray(model.Backend, tokens, 1, tokens.Length);
        return model.Forward(tape, ids).Value.ToFloatArray();
    }
}
