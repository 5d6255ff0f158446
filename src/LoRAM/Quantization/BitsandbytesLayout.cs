using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoRAM.Quantization;

/// <summary>
/// How one NF4 weight is serialised in a quantized model's safetensors, with the names transformers gives a
/// bitsandbytes Linear4bit (its QuantState.as_dict(packed = True)); for a weight named <c>{w}</c>:
/// <code>
///   {w}                                   U8  [⌈out·in/2⌉, 1]  packed codes, even element in the high nibble
///   {w}.absmax                            F32 [blocks]          plain, or
///                                         U8  [blocks]          8-bit dynamic-map codes of absmax − offset (double quant)
///   {w}.quant_map                         F32 [16]              the NF4 levels
///   {w}.nested_absmax                     F32 [⌈blocks/256⌉]   double quant only: one scale per 256 blocks
///   {w}.nested_quant_map                  F32 [256]             double quant only: the signed dynamic map
///   {w}.quant_state.bitsandbytes__nf4     U8  [bytes]           UTF-8 JSON: quant_type, blocksize, dtype, shape
///                                                               (+ nested_blocksize, nested_dtype, nested_offset)
/// </code>
/// </summary>
public static class BitsandbytesLayout
{
    public const string Absmax = ".absmax", QuantMap = ".quant_map", NestedAbsmax = ".nested_absmax",
        NestedQuantMap = ".nested_quant_map", QuantState = ".quant_state.bitsandbytes__nf4";

    /// <summary>The JSON of <c>{w}.quant_state.bitsandbytes__nf4</c>; <paramref name="dtype"/> is the original weight's
    /// torch dtype name ("bfloat16", "float32", "float16").</summary>
    public static byte[] QuantStateJson(Nf4Weight weight, string dtype)
    {
        var o = new JsonObject
        {
            ["quant_type"] = "nf4",
            ["blocksize"] = Nf4Weight.BlockSize,
            ["dtype"] = dtype,
            ["shape"] = new JsonArray(weight.Rows, weight.Cols),
        };
        if (weight.DoubleQuantized)
        {
            o["nested_blocksize"] = Nf4Weight.AbsmaxGroupSize;
            o["nested_dtype"] = "float32";
            o["nested_offset"] = weight.AbsmaxOffset;
        }
        return JsonSerializer.SerializeToUtf8Bytes(o);
    }

    /// <summary>The fields of a quant_state JSON that loading needs.</summary>
    public sealed record State(string QuantType, int BlockSize, int Rows, int Cols, string DType, float? NestedOffset, int? NestedBlockSize);

    /// <summary>Parses a quant_state JSON; throws <see cref="FormatException"/> with what is wrong.</summary>
    public static State ParseQuantState(ReadOnlySpan<byte> json)
    {
        JsonObject o;
        try { o = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("quant_state is not a JSON object"); }
        catch (JsonException e) { throw new FormatException($"quant_state is not valid JSON ({e.Message})", e); }
        try
        {
            var shape = o["shape"]?.AsArray() ?? throw new FormatException("quant_state has no 'shape'");
            if (shape.Count != 2) throw new FormatException($"quant_state 'shape' must be [out, in], got {shape.ToJsonString()}");
            return new State(
                o["quant_type"]?.GetValue<string>() ?? throw new FormatException("quant_state has no 'quant_type'"),
                o["blocksize"]?.GetValue<int>() ?? throw new FormatException("quant_state has no 'blocksize'"),
                shape[0]!.GetValue<int>(), shape[1]!.GetValue<int>(),
                o["dtype"]?.GetValue<string>() ?? "float32",
                o["nested_offset"]?.GetValue<float>(), o["nested_blocksize"]?.GetValue<int>());
        }
        catch (InvalidOperationException e)
        {
            throw new FormatException($"quant_state has a field of the wrong type ({e.Message})", e);
        }
    }
}
