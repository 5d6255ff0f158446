using System.CommandLine;
using LoRAM.Quantization;

namespace LoRAM.Cli;

/// <summary><c>loram quantize</c>: writes an NF4 copy of a LLaMA folder (QLoRAM's W^{P,A,Q}); see
/// src/LoRAM/Quantization/README.md for the layout and <see cref="ModelQuantizer"/> for what is quantized.</summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face LLaMA folder to quantize.", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder to write the quantized model into.", Required = true };
        var doubleQuant = new Option<bool>("--double-quant") { Description = "Quantize the block scales too (QLoRA's double quantization, ≈ 4.127 bits/weight)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("quantize", "Store the linear projections of a LLaMA folder in 4-bit NormalFloat (QLoRA NF4).")
        {
            model, outDir, doubleQuant, json,
        };
        command.SetAction(parse =>
        {
            var report = ModelQuantizer.Run(new QuantizeOptions { Model = parse.GetValue(model)!, Out = parse.GetValue(outDir)!, DoubleQuant = parse.GetValue(doubleQuant) });
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
                output.WriteLine(ReportJson.Serialize(report));
            else
            {
                output.WriteLine($"wrote {report.Output} in {report.Seconds:F1} s: {report.QuantizedTensors} projections, {report.QuantizedParameters:N0} weights in NF4" +
                                 (report.DoubleQuant ? " with double quantization" : ""));
                output.WriteLine($"  codes      {report.CodeBytes,14:N0} bytes");
                output.WriteLine($"  absmax     {report.AbsmaxBytes,14:N0} bytes");
                output.WriteLine($"  constants  {report.ConstantBytes,14:N0} bytes (quant maps, quant_state)");
                output.WriteLine($"  dense      {report.DenseBytes,14:N0} bytes (embedding, norms, lm_head)");
                output.WriteLine($"  {report.BitsPerParameter:F3} bits per quantized weight ({report.BitsPerParameterWithConstants:F3} with per-tensor constants); " +
                                 $"worst relative Frobenius error {report.MaxRelativeError:F4}");
            }
            return 0;
        });
        return command;
    }
}
