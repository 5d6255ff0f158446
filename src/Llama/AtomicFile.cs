namespace LoRAM.Llama;

/// <summary>
/// Writes a file so that readers see either the old content or the complete new content, never a partial one,
/// even if the process is killed or the machine loses power mid-write: the bytes go to <c>name.tmp</c> in the same
/// folder (so the rename cannot cross file systems), are flushed to disk, and the temporary file is then renamed
/// over the target. On failure the temporary file is deleted and the old content is left untouched.
/// </summary>
public static class AtomicFile
{
    /// <summary>The temporary name <paramref name="path"/> is written under before the rename.</summary>
    public static string TemporaryPath(string path) => Path.GetFullPath(path) + ".tmp";

    /// <summary>Creates the folder if needed, lets <paramref name="write"/> fill the temporary file, flushes it to disk
    /// (<c>fsync</c>) and renames it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<FileStream> write)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = TemporaryPath(full);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // the original error matters more
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (no byte-order mark), atomically.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, fs => { using var w = new StreamWriter(fs, leaveOpen: true); w.Write(text); });

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/>, atomically.</summary>
    public static void Copy(string source, string destination)
    {
        using var from = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Write(destination, to => from.CopyTo(to));
    }
}
