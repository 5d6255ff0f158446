namespace LoRAM.Llama;

/// <summary>Writes a file so that readers see either the old or the complete new content: write
/// <c>name.tmp</c>, flush it to disk, then rename over the target.</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<FileStream> write)
    {
        var tmp = path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, fs => { using var w = new StreamWriter(fs, leaveOpen: true); w.Write(text); });
}
