// ProbeReport: everything `nexttoken probe` measures on one checkpoint.
namespace NextToken.Evaluation.Probes;

/// <summary>Results of <see cref="IclProbes"/>.</summary>
public sealed record ProbeReport
{
    /// <summary>Mean loss at each target position over the held-out windows (nats).</summary>
    public required double[] LossByPosition { get; init; }
    /// <summary>Olsson et al.'s in-context-learning score: loss at the late position minus loss at the early one (negative: later tokens are easier).</summary>
    public double IclScore { get; init; }
    /// <summary>Early and late target positions the score compares (50 and 500, scaled to shorter contexts).</summary>
    public int EarlyPosition { get; init; }
    /// <summary>Late target position.</summary>
    public int LatePosition { get; init; }
    /// <summary>Length of each random half of the repeated random sequences.</summary>
    public int RepeatLength { get; init; }
    /// <summary>Mean loss on the first copy of the repeated random tokens.</summary>
    public double FirstCopyLoss { get; init; }
    /// <summary>Mean loss on the second copy (an induction mechanism makes it far lower).</summary>
    public double SecondCopyLoss { get; init; }
    /// <summary>Mean loss at each target position of the repeated sequences (2R − 1).</summary>
    public required double[] RepeatLossByPosition { get; init; }
    /// <summary>Per-head scores on the repeated random sequences.</summary>
    public required HeadScores Heads { get; init; }
}
