// SweepProgress: where a sweep is, reported after each step of each run.
namespace NextToken.Scaling;

/// <summary>
/// Run <paramref name="RunIndex"/> (0-based) of <paramref name="RunCount"/> at <paramref name="Step"/>/<paramref name="Steps"/>;
/// <paramref name="Fraction"/> is the share of the sweep's planned FLOPs done (runs skipped as already done count as done);
/// the ETA extrapolates this session's FLOPs per second.
/// </summary>
public sealed record SweepProgress(int RunIndex, int RunCount, string RunName, long Step, int Steps, double Fraction, double ElapsedSeconds, double EtaSeconds, double? LastLoss);
