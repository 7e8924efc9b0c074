// LbfgsResult: where L-BFGS stopped.
namespace NextToken.Scaling;

/// <summary>The minimiser found, its value, the iterations taken and whether a convergence test (not the cap) stopped it.</summary>
public sealed record LbfgsResult(double[] X, double Value, int Iterations, bool Converged);
