using System.Text;
using LoRAM.Llama.Safetensors;
using LoRAM.Llama.Tests.Support;
using LoRAM.Llama.Tokenization;

namespace LoRAM.Llama.Tests.Corruption;

/// <summary>
/// Every JSON file the model layer reads — config.json, a safetensors header, the shard index, the tokenizer files —
/// with half a UTF-16 surrogate pair escaped in a string value or a key (<c>"\ud800"</c>): valid JSON syntax, invalid
/// text. System.Text.Json accepts it and throws InvalidOperationException when the string is read; each reader must
/// instead fail with a one-line <see cref="LlamaFormatException"/> naming the file and saying what is wrong.
/// </summary>
public sealed class SurrogateCorruptionTests : IDisposable
{
    private readonly TempFolder _dir = new("loram-surrogate");
    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, bool> Cases => new()
    {
        { "config", false }, { "config", true }, { "header", false }, { "header", true },
        { "index", false }, { "index", true }, { "tokenizer", false }, { "tokenizer", true },
    };

    [Theory, MemberData(nameof(Cases))]
    public void Half_a_surrogate_pair_is_a_one_line_error_naming_the_file(string file, bool inAKey)
    {
        string folder = _dir.File($"{file}-{inAKey}");
        TinyLlama.Write(folder);
        string Inject(string json, string key, string value) => inAKey
            ? json.Replace($"\"{key}\":", $"\"\\ud800{key}\":")
            : json.Replace($"\"{key}\": \"{value}\"", $"\"{key}\": \"\\udc00{value}\"").Replace($"\"{key}\":\"{value}\"", $"\"{key}\":\"\\udc00{value}\"");
        string path;
        Action read;
        switch (file)
        {
            case "config":
                path = Path.Combine(folder, ModelFolder.Config);
                File.WriteAllText(path, Inject(File.ReadAllText(path), "torch_dtype", "float32"));
                read = () => LlamaConfig.Load(path);
                break;
            case "header":
                path = Path.Combine(folder, ModelFolder.Weights);
                byte[] data = [0, 0, 128, 63];
                string header = Inject("""{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {"format": "pt"}}""", inAKey ? "w" : "format", "pt");
                var h = Encoding.UTF8.GetBytes(header);
                File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)h.Length), .. h, .. data]);
                read = () => SafetensorsFile.Open(path).Dispose();
                break;
            case "index":
                path = Path.Combine(folder, ModelFolder.WeightsIndex);
                File.WriteAllText(path, Inject("""{"metadata": {"total_size": 4}, "weight_map": {"model.norm.weight": "model.safetensors"}}""", inAKey ? "model.norm.weight" : "model.norm.weight", "model.safetensors"));
                read = () => SafetensorsCheckpoint.Open(folder).Dispose();
                break;
            default:
                path = Path.Combine(folder, "loram_tokenizer.json");
                File.WriteAllText(path, Inject(File.ReadAllText(path), "type", "byte"));
                read = () => Tokenizers.Load(folder);
                break;
        }
        Assert.Contains(inAKey ? "\\ud800" : "\\udc00", File.ReadAllText(path));   // the corruption is in place
        Rejection.Expect<LlamaFormatException>(read, path, "unpaired surrogate");
    }
}
