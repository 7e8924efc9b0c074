// FitOptions: knobs of the scaling-law fits.
namespace NextToken.Scaling;

/// <summary>Options of <see cref="ScalingFits"/>.</summary>
public sealed record FitOptions
{
    /// <summary>Huber δ on log-loss residuals (Hoffmann et al.: 1e-3).</summary>
    public double HuberDelta { get; init; } = Huber.ChinchillaDelta;
    /// <summary>Bootstrap resamples for the Chinchilla fit's intervals (0: none).</summary>
    public int Bootstrap { get; init; } = 100;
    /// <summary>Seed of the bootstrap's resampling.</summary>
    public ulong Seed { get; init; } = 1337;
    /// <summary>
    /// L-BFGS runs from the grid of initialisations: the best this many grid points by their starting objective
    /// (0: every one of the 4,500, as Hoffmann et al. do).
    /// </summary>
    public int GridStarts { get; init; } = 64;
}
