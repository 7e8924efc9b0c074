// TrainProgress: one step's figures, reported to the progress display and written to log.jsonl.
namespace NextToken.Training;

/// <summary>What the trainer reports after each step (and after each evaluation).</summary>
public sealed record TrainProgress(long Step, int TotalSteps, float Loss, float LearningRate, float GradNorm,
                                   double TokensPerSecond, double ElapsedSeconds, double? ValLoss)
{
    /// <summary>Estimated seconds left at the current speed.</summary>
    public double EtaSeconds => Step <= 0 ? 0 : ElapsedSeconds / Step * Math.Max(0, TotalSteps - Step);
}
