using System.Diagnostics;
using System.Text;
using System.Text.Json;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Bench;

/// <summary>
/// `tokenize` suite: encoding throughput of a model folder's tokenizer (tokenizer.json through our Hugging Face
/// pipeline) on a corpus of documents, one thread: each repeat encodes every document without special tokens; MB/s =
/// UTF-8 bytes / median seconds. Options: --folder DIR (holds tokenizer.json) --corpus FILE (a JSON array of strings,
/// as bench/peers/tokenize.mjs writes it) --reps R (default 5) --json. The peer is bench/peers/tokenize.mjs.
/// </summary>
internal static class TokenizeBench
{
    public static int Run(string[] args)
    {
        var folder = BenchArgs.Option(args, "--folder");
        var corpusFile = BenchArgs.Option(args, "--corpus");
        if (folder is null || corpusFile is null) { Console.Error.WriteLine("tokenize: --folder DIR --corpus FILE [--reps R] [--json]"); return 2; }
        int reps = BenchArgs.Int(args, "--reps", 5);
        var docs = JsonSerializer.Deserialize<string[]>(File.ReadAllText(corpusFile))!;
        long bytes = docs.Sum(d => (long)Encoding.UTF8.GetByteCount(d));
        var load = Stopwatch.StartNew();
        var tokenizer = Tokenizers.Load(folder);
        double loadS = load.Elapsed.TotalSeconds;
        long ids = 0;
        foreach (var d in docs) ids += tokenizer.Encode(d, addBos: false).Length;   // warm-up (JIT, regex compile, BPE cache)
        var seconds = new List<double>();
        for (int r = 0; r < reps; r++)
        {
            var clock = Stopwatch.StartNew();
            foreach (var d in docs) tokenizer.Encode(d, addBos: false);
            seconds.Add(clock.Elapsed.TotalSeconds);
        }
        seconds.Sort();
        double median = seconds[seconds.Count / 2], mbs = bytes / 1e6 / median;
        if (args.Contains("--json"))
            Console.WriteLine(JsonSerializer.Serialize(new { folder, documents = docs.Length, bytes, ids, load_s = loadS, median_s = median, mb_per_s = mbs, runs_s = seconds }));
        else
            Console.WriteLine($"{Path.GetFileName(folder.TrimEnd('/'))}: {docs.Length} documents, {bytes / 1e6:0.00} MB, {ids} ids; load {loadS:0.00} s; encode median {median:0.000} s of {reps} = {mbs:0.00} MB/s");
        return 0;
    }
}
