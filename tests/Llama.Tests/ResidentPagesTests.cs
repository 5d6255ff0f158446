using LoRAM.Llama.Safetensors;
using LoRAM.Tensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Tests;

/// <summary>
/// Mapped checkpoint pages leave the process's resident set once nothing reads them again (a borrowed weight disposed,
/// a tensor converted or copied on load), and a tensor still borrowed from the same bytes reads them back intact.
/// The resident bytes are those of this test's own file, read from /proc/self/smaps, so other tests cannot disturb them.
/// </summary>
public class ResidentPagesTests
{
    private const int Elements = 4 << 20;                 // 16 MiB of F32: 4,096 pages
    private const long Bytes = 4L * Elements;

    [Fact]
    public void Disposing_a_borrowed_weight_gives_its_pages_back_and_a_second_view_still_reads_them()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempFolder();
        var (path, values) = WriteFile(dir, seed: 3);
        using var cpu = new CpuBackend(1);
        using var file = SafetensorsFile.Open(path);
        var first = file.Load(cpu, "w");
        using var second = file.Load(cpu, "w");
        Assert.Equal(values, first.ToArray<float>());                       // touches every page
        Assert.InRange(ResidentBytes(path), Bytes * 9 / 10, Bytes + (64 << 10));
        first.Dispose();                                                    // the file stays mapped: `second` holds it
        Assert.InRange(ResidentBytes(path), 0, 2 * Environment.SystemPageSize);   // at most the two pages shared with the header
        Assert.Equal(values, second.ToArray<float>());                      // re-read from the file, bit for bit
    }

    [Fact]
    public void A_tensor_converted_on_load_keeps_none_of_its_source_pages()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempFolder();
        var (path, values) = WriteFile(dir, seed: 4);
        using var cpu = new CpuBackend(1);
        using var file = SafetensorsFile.Open(path);
        using var bf16 = file.Load(cpu, "w", DType.BF16);
        Assert.InRange(ResidentBytes(path), 0, 2 * Environment.SystemPageSize);
        Assert.Equal(values.Select(BFloat16.FromSingle), bf16.ToArray<ushort>());
    }

    [Fact]
    public void The_finiteness_scan_on_load_leaves_no_page_resident()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempFolder();
        var (path, _) = WriteFile(dir, seed: 5);
        using var file = SafetensorsFile.Open(path);
        file.RequireFinite("w");                                            // reads all 16 MiB
        Assert.InRange(ResidentBytes(path), 0, 2 * Environment.SystemPageSize);
    }

    private static (string Path, float[] Values) WriteFile(TempFolder dir, int seed)
    {
        var rng = new Random(seed);
        var values = new float[Elements];
        for (int i = 0; i < values.Length; i++) values[i] = (float)rng.NextDouble() - 0.5f;
        using var cpu = new CpuBackend(1);
        using var t = Tensor.FromArray(cpu, values, 1024, Elements / 1024);
        var w = new SafetensorsWriter();
        w.Add("w", t);
        string path = dir.File("w.safetensors");
        w.Save(path);
        return (path, values);
    }

    /// <summary>Sum of the Rss of every mapping of <paramref name="path"/> in this process.</summary>
    private static long ResidentBytes(string path)
    {
        long kb = 0;
        bool ours = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            // A mapping's header: "start-end perms offset dev inode [path]"; its fields follow as "Name:   value kB".
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 5 && parts[0].Contains('-') && !parts[0].EndsWith(':')) { ours = parts.Length >= 6 && parts[5] == path; continue; }
            if (ours && parts is ["Rss:", var value, "kB"]) kb += long.Parse(value);
        }
        return kb * 1024;
    }
}
