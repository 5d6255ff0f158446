using LoRAM.Llama;
using LoRAM.Llama.Model;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Lora;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Tests.Lora;

/// <summary><c>loram merge</c> writes a plain Hugging Face folder that looks like the original: every tensor in the dtype the
/// original stores it in, the projections moved by s·B·A.</summary>
public sealed class AdapterMergeTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly CpuBackend _cpu = new(1);

    public void Dispose()
    {
        _cpu.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void The_merged_folder_keeps_every_tensors_stored_dtype_and_changes_only_the_adapted_projections()
    {
        var src = Path.Combine(_dir.Path, "model");
        TinyLlama.Write(src, new TinyLlamaOptions { DType = DType.BF16 });
        var adapterDir = Path.Combine(_dir.Path, "adapter");
        using (var model = LlamaModel.Load(src, _cpu))
        using (var adapter = LoraAdapter.Attach(model, new LoraSettings { Rank = 2, TargetModules = ["q_proj", "down_proj"] }, seed: 4))
        {
            foreach (var (_, layer) in adapter.Layers)
            {
                var b = Enumerable.Range(0, (int)layer.B.Value.Length).Select(i => 0.05f * ((i % 7) - 3)).ToArray();
                _cpu.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan()), layer.B.Value);
            }
            adapter.Save(adapterDir);
        }
        var merged = Path.Combine(_dir.Path, "merged");
        var report = AdapterMerge.Run(new MergeOptions { Model = src, Adapter = adapterDir, Out = merged }, _cpu);
        Assert.Equal(2 * 2, report.MergedModules);

        using var before = SafetensorsCheckpoint.Open(src);
        using var after = SafetensorsCheckpoint.Open(merged);
        Assert.Equal(before.Names.Order(), after.Names.Order());
        foreach (var name in before.Names)
        {
            Assert.True(before[name].DTypeName == after[name].DTypeName, $"{name}: {before[name].DTypeName} → {after[name].DTypeName}");
            bool adapted = name.EndsWith("q_proj.weight") || name.EndsWith("down_proj.weight");
            Assert.True(adapted != before.FileOf(name).RawBytes(name).SequenceEqual(after.FileOf(name).RawBytes(name)), $"{name}: adapted {adapted}");
        }
    }

    /// <summary>The head of a tied model is its embedding matrix: merging an lm_head adapter (the pipeline's default targets
    /// include it) used to write a folder without the head's update, silently. Refused, naming both; projections still merge.</summary>
    [Fact]
    public void An_lm_head_adapter_on_a_model_whose_head_is_its_embedding_is_refused_rather_than_dropped()
    {
        var src = Path.Combine(_dir.Path, "tied");
        TinyLlama.Write(src, new TinyLlamaOptions { Tied = true });
        string withHead = Path.Combine(_dir.Path, "with-head"), withoutHead = Path.Combine(_dir.Path, "without-head");
        using (var model = LlamaModel.Load(src, _cpu))
        {
            using (var adapter = LoraAdapter.Attach(model, new LoraSettings { Rank = 2, TargetModules = ["q_proj", "lm_head"] }, seed: 4)) adapter.Save(withHead);
            using (var adapter = LoraAdapter.Attach(model, new LoraSettings { Rank = 2, TargetModules = ["q_proj"] }, seed: 4)) adapter.Save(withoutHead);
        }
        string merged = Path.Combine(_dir.Path, "merged");
        var e = Assert.Throws<UserInputException>(() => AdapterMerge.Run(new MergeOptions { Model = src, Adapter = withHead, Out = merged }, _cpu));
        Assert.StartsWith($"{withHead}: adapts lm_head, but {src} ties its head to the embedding", e.Message);
        Assert.False(Directory.Exists(merged));
        Assert.Equal(2, AdapterMerge.Run(new MergeOptions { Model = src, Adapter = withoutHead, Out = merged }, _cpu).MergedModules);
    }
}
