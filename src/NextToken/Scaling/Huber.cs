// Huber: the robust loss Hoffmann et al. (2022) fit Approach 3 with (δ = 1e-3 on log-loss residuals).
namespace NextToken.Scaling;

/// <summary>Huber's loss: r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond (quadratic near zero, linear in the tails).</summary>
public static class Huber
{
    /// <summary>Hoffmann et al.'s δ for residuals of log loss.</summary>
    public const double ChinchillaDelta = 1e-3;

    /// <summary>The loss of residual <paramref name="r"/>.</summary>
    public static double Loss(double r, double delta)
    {
        double a = Math.Abs(r);
        return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
    }

    /// <summary>d loss / d r: r inside ±δ, ±δ outside.</summary>
    public static double Derivative(double r, double delta) => Math.Abs(r) <= delta ? r : Math.CopySign(delta, r);
}
