using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using LoRAM.Lora;

namespace LoRAM.Cli;

/// <summary><c>loram merge</c>: folds a LoRA adapter into its base model, W = W0 + s·B·A, and writes a plain Hugging Face folder.</summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model("Base model folder the adapter was made for (for LoRAM: the original, unpruned model).");
        var adapter = new Option<string>("--adapter") { Description = "PEFT LoRA adapter folder (for LoRAM: the recovered adapter).", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder to write the merged model into (must not exist yet).", Required = true };
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var command = new Command("merge", "Merge a LoRA adapter into its base model's weights and save the result.")
        {
            model, adapter, outDir, device, json,
        };
        command.SetAction(parse =>
        {
            var clock = Stopwatch.StartNew();
            string modelDir = parse.GetValue(model)!, adapterDir = parse.GetValue(adapter)!, target = parse.GetValue(outDir)!;
            if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
                throw new UserInputException($"{target}: already exists and is not empty; choose another --out");
            if (File.Exists(target)) throw new UserInputException($"{target}: is a file, --out needs a folder");
            if (!Directory.Exists(adapterDir)) throw new UserInputException($"{adapterDir}: no such adapter folder");
            if (Quantization.QuantizedCheckpoint.IsQuantized(modelDir))
                throw new UserInputException($"{modelDir}: is NF4-quantized; merge into the original (dense) model, as LoRAM does");

            using var backend = CommonOptions.OpenBackend(parse.GetValue(device));
            using var llama = CommonOptions.LoadModel(modelDir, backend);
            var lora = LoraAdapter.Load(adapterDir, llama);
            int merged = lora.Layers.Count;
            long adapterParams = lora.ParameterCount;
            lora.MergeAndDetach();

            // Everything goes to a sibling temporary folder first; only a complete model is renamed into place.
            var full = Path.GetFullPath(target);
            var temporary = $"{full}.tmp-{Guid.NewGuid():N}";
            try
            {
                llama.Save(temporary, tokenizerFrom: modelDir);
                if (Directory.Exists(full)) Directory.Delete(full);
                Directory.Move(temporary, full);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UserInputException($"{target}: cannot write the merged model ({e.Message})", e);
            }
            finally
            {
                if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
            }

            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
                output.WriteLine(JsonSerializer.Serialize(new { out_dir = full, merged_modules = merged, adapter_parameters = adapterParams, seconds = clock.Elapsed.TotalSeconds }));
            else
                output.WriteLine($"merged {merged} adapted projections ({adapterParams:N0} adapter parameters) into {full} in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return command;
    }
}
