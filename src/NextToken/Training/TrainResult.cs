// TrainResult: the summary of a finished (or stopped) run; its JSON keys are a CLI contract.
using System.Text.Json.Serialization;

namespace NextToken.Training;

/// <summary>Summary of a run. Serialised as the last stdout line of <c>nexttoken train --json</c>.</summary>
public sealed record TrainResult
{
    /// <summary>Mean training loss of the last step (null when no step has run).</summary>
    [JsonPropertyName("final_train_loss")] public double? FinalTrainLoss { get; init; }
    /// <summary>Lowest validation loss over the run (null when there is no validation split).</summary>
    [JsonPropertyName("best_val_loss")] public double? BestValLoss { get; init; }
    /// <summary>Validation loss at the end (null when there is no validation split).</summary>
    [JsonPropertyName("final_val_loss")] public double? FinalValLoss { get; init; }
    /// <summary>Training tokens per second over this process's steps.</summary>
    [JsonPropertyName("tokens_per_second")] public double TokensPerSecond { get; init; }
    /// <summary>Wall time of this process's training loop.</summary>
    [JsonPropertyName("wall_seconds")] public double WallSeconds { get; init; }
    /// <summary>Completed optimizer steps (including those before a resume).</summary>
    [JsonPropertyName("iters")] public long Iterations { get; init; }
    /// <summary>True when stopped early by cancellation (Ctrl-C).</summary>
    [JsonPropertyName("interrupted")] public bool Interrupted { get; init; }
    /// <summary>Parameter count of the model.</summary>
    [JsonPropertyName("parameters")] public long Parameters { get; init; }
    /// <summary>Where the checkpoint was written.</summary>
    [JsonPropertyName("checkpoint")] public string? CheckpointDirectory { get; init; }
}
