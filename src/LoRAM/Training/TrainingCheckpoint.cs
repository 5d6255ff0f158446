using System.Globalization;
using System.Text;

namespace LoRAM.Training;

/// <summary>
/// Checkpoint folders under <c>OUT/checkpoints/</c>, each written whole or not at all: the contents go into
/// <c>.partial-step-N</c>, every file flushed to disk, and only then is the folder renamed to <c>step-N</c>
/// (a rename within one file system is atomic). A kill or an error while writing leaves at most a
/// <c>.partial-*</c> folder, which readers ignore and the next save removes; the previous checkpoint is untouched.
/// </summary>
public static class TrainingCheckpoint
{
    public const string FolderName = "checkpoints";
    public const string StateFile = "trainer_state.json";
    public const string OptimizerFile = "optimizer.safetensors";
    private const string Prefix = "step-";

    public static string NameOf(int step) => Prefix + step.ToString("D8", CultureInfo.InvariantCulture);

    /// <summary>Writes checkpoint <paramref name="step"/> through <paramref name="writeContents"/> (called with the
    /// temporary folder) and publishes it by renaming; returns the final folder.</summary>
    public static string Write(string checkpointsFolder, int step, Action<string> writeContents)
    {
        Directory.CreateDirectory(checkpointsFolder);
        foreach (var stale in Directory.GetDirectories(checkpointsFolder, ".partial-*")) TryDelete(stale);
        string tmp = Path.Combine(checkpointsFolder, ".partial-" + NameOf(step));
        Directory.CreateDirectory(tmp);
        try { writeContents(tmp); }
        catch
        {
            TryDelete(tmp);
            throw;
        }
        string final = Path.Combine(checkpointsFolder, NameOf(step));
        if (Directory.Exists(final))
        {
            // Re-writing a step (a resumed run passing it again): move the old one aside first, so at every moment
            // one complete folder of that name or its replacement exists.
            string old = Path.Combine(checkpointsFolder, ".partial-old-" + NameOf(step));
            TryDelete(old);
            Directory.Move(final, old);
            Directory.Move(tmp, final);
            TryDelete(old);
        }
        else Directory.Move(tmp, final);
        return final;
    }

    /// <summary>Complete checkpoints, oldest first.</summary>
    public static IReadOnlyList<(int Step, string Folder)> List(string checkpointsFolder)
    {
        if (!Directory.Exists(checkpointsFolder)) return [];
        var found = new List<(int, string)>();
        foreach (var dir in Directory.GetDirectories(checkpointsFolder, Prefix + "*"))
        {
            var name = Path.GetFileName(dir);
            if (int.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int step) && File.Exists(Path.Combine(dir, StateFile)))
                found.Add((step, dir));
        }
        return found.OrderBy(f => f.Item1).ToList();
    }

    /// <summary>The newest complete checkpoint, or null.</summary>
    public static string? Latest(string checkpointsFolder) => List(checkpointsFolder) is { Count: > 0 } l ? l[^1].Folder : null;

    /// <summary>Refuses, before any work, to resume from <paramref name="folder"/> with settings it was not made with:
    /// <see cref="UserInputException"/> "cannot resume: FLAG is X here but Y in the checkpoint FOLDER" for the first of
    /// <paramref name="settings"/> that differs beyond what its rule allows, or naming the file and field of a damaged
    /// trainer_state.json. The trainer checks its own settings, and the rest of the state, when it resumes.</summary>
    public static void CheckResumable(string folder, IEnumerable<RunSetting> settings)
    {
        var statePath = Path.Combine(folder, StateFile);
        try
        {
            var state = CheckpointFields.ReadObject(statePath);
            try { RunSetting.CheckResumable(settings, CheckpointFields.Object(state, "settings"), statePath); }
            catch (ArgumentException e) when (!e.Message.Contains(" in the checkpoint ", StringComparison.Ordinal))
            {
                throw new ArgumentException($"{statePath}: {e.Message}", e);
            }
        }
        catch (ArgumentException e) { throw new UserInputException($"cannot resume: {e.Message}", e); }
    }

    /// <summary>Deletes all but the newest <paramref name="keep"/> checkpoints.</summary>
    public static void Prune(string checkpointsFolder, int keep)
    {
        var all = List(checkpointsFolder);
        for (int i = 0; i < all.Count - keep; i++) TryDelete(all[i].Folder);
    }

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
