using System.Diagnostics;
using LoRAM.Llama.Tests.Support;

namespace LoRAM.Llama.Tests;

/// <summary>A killed merge/prune/recover leaves its <c>.NAME.tmp-GUID</c> folder behind; the next write into the same
/// target removes the leftovers whose writer (the pid in the marker) is dead, reports each, and keeps a live one's.</summary>
public sealed class AtomicFolderStaleTests
{
    private static string Leftover(string target, int pid)
    {
        string tmp = AtomicFolder.TemporaryPrefix(target) + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(tmp);
        File.WriteAllText(Path.Combine(tmp, AtomicFolder.WriterFile), pid.ToString());
        File.WriteAllText(Path.Combine(tmp, "model.safetensors"), "half written");
        return tmp;
    }

    [Fact]
    public void A_leftover_of_a_dead_writer_is_removed_and_reported_and_a_live_writers_is_kept()
    {
        using var dir = new TempFolder();
        string target = dir.File("merged");
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        string dead = Leftover(target, p.Id);
        string live = Leftover(target, Environment.ProcessId);
        string other = Leftover(dir.File("another"), p.Id);   // another target's leftover: not ours to judge now
        var reported = new List<string>();
        AtomicFolder.Write(target, tmp => { File.WriteAllText(Path.Combine(tmp, "x"), "done"); return 0; }, reported.Add);

        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(live));
        Assert.True(Directory.Exists(other));
        Assert.Equal([dead], reported.Select(l => l.Split(',')[0]["removed ".Length..]));
        Assert.Equal(["x"], Directory.GetFiles(target).Select(Path.GetFileName));   // the marker does not reach the output
    }
}
