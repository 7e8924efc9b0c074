// TrainingState: everything besides weights and moments that a resumed run needs to continue exactly.
namespace NextToken.Training;

/// <summary>Saved in the checkpoint next to the weights; restored by a resumed run.</summary>
public sealed record TrainingState
{
    /// <summary>Number of completed optimizer steps.</summary>
    public long Step { get; init; }
    /// <summary>Dropout generator state.</summary>
    public ulong DropoutRngState { get; init; }
    /// <summary>Dropout generator stream.</summary>
    public ulong DropoutRngIncrement { get; init; }
    /// <summary>Training batch loader position.</summary>
    public long LoaderPosition { get; init; }
    /// <summary>Training batch loader RNG state.</summary>
    public ulong LoaderRngState { get; init; }
    /// <summary>Training batch loader RNG stream.</summary>
    public ulong LoaderRngIncrement { get; init; }
    /// <summary>Best validation loss seen so far (NaN when none).</summary>
    public double BestValLoss { get; init; } = double.NaN;
    /// <summary>Training loss of the last completed step (NaN when none), so a finished run resumed can report it.</summary>
    public double TrainLoss { get; init; } = double.NaN;
    /// <summary>The options the run was started with (a resumed run reuses them).</summary>
    public TrainOptions? Options { get; init; }
    /// <summary>The prepared data directory the run reads.</summary>
    public string? DataDirectory { get; init; }
}
