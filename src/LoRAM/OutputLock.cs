using LoRAM.Llama;

namespace LoRAM;

/// <summary>
/// One run per output folder. A job that writes a folder holds a lock file for the whole run: <c>OUT/.loram.lock</c>
/// for a folder filled in place (train, pretrain, align, data, pipeline), <c>.NAME.loram.lock</c> beside it for a
/// folder written whole by <see cref="AtomicFolder"/> (prune, merge, recover, quantize), which must stay empty until it
/// appears. The file is created with <see cref="FileMode.CreateNew"/> (atomic: of two runs, one wins) and holds the
/// writer's pid; a lock whose pid is no longer running was left by a killed run and is taken over. A second run gets
/// <see cref="UserInputException"/> naming the holder's pid. Disposing releases the lock.
/// </summary>
public sealed class OutputLock : IDisposable
{
    public const string FileName = ".loram.lock";

    private readonly string _path;
    private bool _released;

    private OutputLock(string path) => _path = path;

    /// <summary>The lock of a folder filled in place; creates the folder (checking it is writable) first.</summary>
    public static OutputLock Inside(string folder)
    {
        string full = OutputFolder.EnsureWritable(folder);
        return Take(Path.Combine(full, FileName), folder);
    }

    /// <summary>The lock of a folder written whole (missing or empty until it is complete): a file beside it.</summary>
    public static OutputLock Beside(string folder)
    {
        string full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(full)!;
        try { Directory.CreateDirectory(parent); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{folder}: cannot create its parent folder ({e.Message})", e);
        }
        return Take(Path.Combine(parent, $".{Path.GetFileName(full)}.loram.lock"), folder);
    }

    private static OutputLock Take(string path, string folder)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read))
                using (var w = new StreamWriter(fs))
                    w.Write(Environment.ProcessId);
                return new OutputLock(path);
            }
            catch (IOException) when (File.Exists(path) && attempt < 3)
            {
                int? holder = ReadPid(path);
                if (holder is int pid && AtomicFolder.IsAlive(pid))
                    throw new UserInputException($"{folder}: another run (pid {pid}) is writing this output folder ({path}); wait for it to finish or choose another --out");
                // No pid yet: its writer is between creating and filling the file — unless the file is old (a crash then).
                if (holder is null && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) < TimeSpan.FromSeconds(10))
                    throw new UserInputException($"{folder}: another run is starting in this output folder ({path}); wait for it or choose another --out");
                File.Delete(path);   // stale: its run is gone; take it over
            }
            catch (UnauthorizedAccessException e)
            {
                throw new UserInputException($"{folder}: cannot create the lock file {path} ({e.Message})", e);
            }
        }
    }

    private static int? ReadPid(string path)
    {
        try { return int.TryParse(File.ReadAllText(path).Trim(), out int pid) && pid > 0 ? pid : null; }
        catch (IOException) { return null; }
    }

    public void Dispose()
    {
        if (_released) return;
        _released = true;
        try { File.Delete(_path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // the next run finds it stale
    }
}
