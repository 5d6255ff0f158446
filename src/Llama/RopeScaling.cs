namespace LoRAM.Llama;

/// <summary>The <c>rope_scaling</c> block of a LLaMA-3.1+ config.json (<c>rope_type</c> "llama3"): long-wavelength
/// rotary frequencies are divided by <see cref="Factor"/>, short ones are kept, and the band between is interpolated
/// (see <see cref="RopeTables"/>). Other scaling types are rejected when the config is read.</summary>
public sealed record RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings)
{
    /// <summary>The only <c>rope_type</c> supported.</summary>
    public const string Llama3 = "llama3";
}
