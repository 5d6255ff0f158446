namespace LoRAM;

/// <summary>Pre-flight checks of an output folder, run before long work starts, so that a read-only folder, a file
/// where a folder should be or a full disk is reported in one line at once rather than after an hour of training.</summary>
public static class OutputFolder
{
    /// <summary>
    /// Creates <paramref name="path"/> if it is missing, then writes and deletes a probe file in it. When
    /// <paramref name="bytesNeeded"/> is given, also checks that the file system has that much free space.
    /// Throws <see cref="UserInputException"/> naming the folder and the problem. Returns the full path.
    /// </summary>
    public static string EnsureWritable(string path, long bytesNeeded = 0)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new UserInputException($"{path}: is a file, not a folder");
        try { Directory.CreateDirectory(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"{path}: cannot create the folder ({Reason(e)})", e);
        }

        // Permissions alone do not tell (root ignores them; read-only mounts and ACLs exist): only a write proves it.
        var probe = Path.Combine(full, $".loram-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var fs = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1))
            {
                fs.WriteByte(0);
                fs.Flush(flushToDisk: true);
            }
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(probe); } catch (Exception d) when (d is IOException or UnauthorizedAccessException) { }
            string why = e is FileNotFoundException or DirectoryNotFoundException ? "files cannot be created in it" : Reason(e).Replace(probe, "a new file");
            throw new UserInputException($"{path}: the folder is not writable ({why})", e);
        }

        if (bytesNeeded > 0)
        {
            long free = new DriveInfo(full).AvailableFreeSpace;
            if (free < bytesNeeded)
                throw new UserInputException($"{path}: {Megabytes(free)} free on its disk, the output needs about {Megabytes(bytesNeeded)}");
        }
        return full;
    }

    private static string Megabytes(long bytes) => $"{bytes / 1e6:F1} MB";

    private static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied or read-only",
        _ => e.Message.ReplaceLineEndings(" ").TrimEnd('.'),
    };
}
