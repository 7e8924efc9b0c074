// NonFiniteLossException: training stopped because the loss became NaN or infinite.
namespace NextToken.Training;

/// <summary>Raised when a step's loss is not finite; the last checkpoint on disk is left as it was.</summary>
public sealed class NonFiniteLossException(long step, float loss, long lastCheckpointStep)
    : Exception($"the loss became {loss} at step {step}; training stopped (the checkpoint from step {lastCheckpointStep} is intact). Lower the learning rate or enable gradient clipping.")
{
    /// <summary>The step whose loss was not finite.</summary>
    public long Step { get; } = step;
}
