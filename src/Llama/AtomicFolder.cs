namespace LoRAM.Llama;

/// <summary>
/// Writes a whole folder (a model, an adapter) so that it appears complete or not at all: everything goes to a hidden
/// sibling <c>.NAME.tmp-GUID</c> on the same file system, which is renamed into place only when the writer finished.
/// On failure the temporary folder is deleted. The target must be missing or empty (callers check it first and name it).
/// A killed writer cannot delete its folder, so each holds a marker file with the writer's pid; the next write into
/// the same target removes the leftovers whose writer is no longer running (a live writer's folder is left alone).
/// </summary>
public static class AtomicFolder
{
    /// <summary>The prefix of the temporary siblings of <paramref name="target"/>.</summary>
    public static string TemporaryPrefix(string target)
    {
        string full = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-");
    }

    /// <summary>The marker inside a temporary folder that names its writer's pid.</summary>
    public const string WriterFile = ".loram-writer";

    /// <summary>Lets <paramref name="write"/> fill a temporary folder, then renames it to <paramref name="target"/>;
    /// returns <paramref name="write"/>'s result. Leftovers of killed writers into the same target are removed first,
    /// each reported through <paramref name="report"/>.</summary>
    public static T Write<T>(string target, Func<string, T> write, Action<string>? report = null)
    {
        string full = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        foreach (var removed in RemoveStale(full)) report?.Invoke($"removed {removed}, the unfinished output of a run that is no longer running");
        string tmp = TemporaryPrefix(full) + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(tmp);
        try
        {
            File.WriteAllText(Path.Combine(tmp, WriterFile), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var result = write(tmp);
            File.Delete(Path.Combine(tmp, WriterFile));
            if (Directory.Exists(full)) Directory.Delete(full);   // empty: callers refuse a folder with content
            Directory.Move(tmp, full);
            return result;
        }
        catch
        {
            try { Directory.Delete(tmp, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // the original error matters more
            throw;
        }
    }

    /// <summary>Deletes the temporary siblings of <paramref name="target"/> whose writer is dead (its pid not running, or
    /// no marker and untouched for an hour: a folder from before markers); returns what it removed.</summary>
    public static IReadOnlyList<string> RemoveStale(string target)
    {
        string prefix = TemporaryPrefix(target);
        string parent = Path.GetDirectoryName(prefix)!;
        if (!Directory.Exists(parent)) return [];
        var removed = new List<string>();
        foreach (var dir in Directory.GetDirectories(parent, Path.GetFileName(prefix) + "*"))
        {
            string marker = Path.Combine(dir, WriterFile);
            bool dead;
            try
            {
                dead = File.Exists(marker)
                    ? !(int.TryParse(File.ReadAllText(marker).Trim(), out int pid) && IsAlive(pid))
                    : DateTime.UtcNow - Directory.GetLastWriteTimeUtc(dir) > TimeSpan.FromHours(1);
                if (!dead) continue;
                Directory.Delete(dir, recursive: true);
                removed.Add(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // another cleaner got it first, or not ours to delete
        }
        return removed;
    }

    /// <summary>Whether a process with id <paramref name="pid"/> is running (this process counts).</summary>
    public static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }      // no such process
        catch (InvalidOperationException) { return false; }
        catch (System.ComponentModel.Win32Exception) { return true; }   // exists, not ours to inspect
    }
}
