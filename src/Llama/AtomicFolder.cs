namespace LoRAM.Llama;

/// <summary>
/// Writes a whole folder (a model, an adapter) so that it appears complete or not at all: everything goes to a hidden
/// sibling <c>.NAME.tmp-GUID</c> on the same file system, which is renamed into place only when the writer finished.
/// On failure the temporary folder is deleted. The target must be missing or empty (callers check it first and name it).
/// </summary>
public static class AtomicFolder
{
    /// <summary>The prefix of the temporary siblings of <paramref name="target"/>.</summary>
    public static string TemporaryPrefix(string target)
    {
        string full = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-");
    }

    /// <summary>Lets <paramref name="write"/> fill a temporary folder, then renames it to <paramref name="target"/>;
    /// returns <paramref name="write"/>'s result.</summary>
    public static T Write<T>(string target, Func<string, T> write)
    {
        string full = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = TemporaryPrefix(full) + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(tmp);
        try
        {
            var result = write(tmp);
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
}
