using System.Security.Cryptography;
using System.Text;

namespace LoRAM;

/// <summary>
/// Fingerprints of a run's inputs, recorded in checkpoints and pipeline fingerprints so that a changed input is noticed
/// even when its size and shapes are the same. Files are SHA-256 of their bytes. A model folder is SHA-256 over the
/// bytes of its files that decide what it computes (*.json, *.safetensors, tokenizer.model), in name order — whole
/// while the folder holds at most <see cref="FullHashLimitBytes"/> of them (models/base, 9 MB, hashes in a few ms;
/// SHA-256 runs at about 300 MB/s here, so 1 GiB costs about 3 s), else each file's length, its first 1 MiB (the
/// safetensors header and the first tensors) and 256 evenly spaced 4 KiB samples: a 7B model's 14 GB would take
/// about 45 s whole, and a fine-tuned copy of the same shapes differs in every sample.
/// </summary>
public static class ContentHash
{
    public const long FullHashLimitBytes = 1L << 30;
    private const int HeadBytes = 1 << 20, Samples = 256, SampleBytes = 4096;

    /// <summary>SHA-256 of the file's bytes, as 64 lowercase hex digits.</summary>
    public static string OfFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>The fingerprint of model folder <paramref name="folder"/> (see the class comment).</summary>
    public static string OfModel(string folder)
    {
        var files = Directory.GetFiles(folder)
            .Where(f => f.EndsWith(".json", StringComparison.Ordinal) || f.EndsWith(".safetensors", StringComparison.Ordinal) || Path.GetFileName(f) == "tokenizer.model")
            .Where(f => !Path.GetFileName(f).StartsWith('.') && Path.GetFileName(f) != "report.json")
            .Order(StringComparer.Ordinal).ToList();
        bool whole = files.Sum(f => new FileInfo(f).Length) <= FullHashLimitBytes;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        foreach (var file in files)
        {
            using var stream = File.OpenRead(file);
            sha.AppendData(Encoding.UTF8.GetBytes($"{Path.GetFileName(file)}\n{stream.Length}\n"));
            if (whole || stream.Length <= HeadBytes + Samples * SampleBytes)
            {
                int n;
                while ((n = stream.Read(buffer)) > 0) sha.AppendData(buffer, 0, n);
                continue;
            }
            sha.AppendData(buffer, 0, stream.ReadAtLeast(buffer.AsSpan(0, HeadBytes), HeadBytes));
            long span = stream.Length - HeadBytes - SampleBytes;
            for (int i = 0; i < Samples; i++)
            {
                stream.Position = HeadBytes + span * i / (Samples - 1);
                sha.AppendData(buffer, 0, stream.ReadAtLeast(buffer.AsSpan(0, SampleBytes), SampleBytes));
            }
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
