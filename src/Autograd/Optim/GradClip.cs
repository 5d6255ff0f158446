namespace LoRAM.Autograd.Optim;

/// <summary>Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).</summary>
public static class GradClip
{
    /// <summary>
    /// ‖g‖ = √(Σ_params Σ g²) accumulated in double; when ‖g‖ &gt; <paramref name="maxNorm"/>, every gradient is
    /// scaled by maxNorm/(‖g‖ + 1e-6). Returns ‖g‖ before clipping (NaN or ∞ when a gradient is not finite,
    /// which callers use to skip the step).
    /// </summary>
    public static double ClipGlobalNorm(IEnumerable<Var> parameters, double maxNorm)
    {
        var grads = parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToList();
        double sum = 0;
        foreach (var g in grads) sum += g.Backend.SumSquares(g);
        double norm = Math.Sqrt(sum);
        if (norm > maxNorm && double.IsFinite(norm))
        {
            float factor = (float)(maxNorm / (norm + 1e-6));
            foreach (var g in grads) g.Backend.Scale(g, factor, g);
        }
        return norm;
    }
}
