using LoRAM.Data;

namespace LoRAM.Pipeline;

/// <summary>
/// The validation split of a pipeline run. instructions.jsonl is generated with <see cref="PipelineOptions.Instructions"/>
/// + <see cref="PipelineOptions.ValidationItems"/> records of the training task families; the first Instructions
/// (<see cref="Train"/>) are what every fine-tuned row trains on, the last ValidationItems (<see cref="Validation"/>) are
/// trained on by no row and read by nothing but the learning-rate sweep. The held-out test sets (ppl-in, ppl-out, mc,
/// math) are generated apart from the instructions, so choosing a learning rate never sees a test item.
/// </summary>
public static class ValidationSplit
{
    public const string Train = "instructions-train.jsonl", Validation = "instructions-validation.jsonl";

    /// <summary>Writes both files from the data folder's instructions.jsonl, which must hold exactly trainItems +
    /// validationItems records; a file already holding the same bytes is left alone.</summary>
    public static void Write(string dataDir, int trainItems, int validationItems)
    {
        string source = Path.Combine(dataDir, DataGeneration.Instructions);
        var records = AlpacaFile.Load(source);
        if (records.Count != trainItems + validationItems)
            throw new UserInputException($"{source}: holds {records.Count} instructions, not the {trainItems} + {validationItems} (training + validation) this run generates; delete the data folder to generate it anew");
        WriteIfChanged(Path.Combine(dataDir, Train), records.Take(trainItems));
        WriteIfChanged(Path.Combine(dataDir, Validation), records.Skip(trainItems));
    }

    private static void WriteIfChanged(string path, IEnumerable<InstructionRecord> records)
    {
        string temporary = path + ".new";
        AlpacaFile.Write(temporary, records);
        if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(File.ReadAllBytes(temporary))) File.Delete(temporary);
        else File.Move(temporary, path, overwrite: true);
    }
}
