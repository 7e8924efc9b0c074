// StudyReport: what the built-in study measured and predicted.
using System.Text.Json.Serialization;

namespace NextToken.Scaling;

/// <summary>The study's fit, its prediction of the held-out run against the measurement, and the emergence points.</summary>
public sealed record StudyReport
{
    /// <summary>The Chinchilla fit to the grammar sweep.</summary>
    [JsonPropertyName("fit")] public required FitReport Fit { get; init; }
    /// <summary>Parameters of the held-out run.</summary>
    [JsonPropertyName("heldout_params")] public long HeldOutParameters { get; init; }
    /// <summary>Tokens of the held-out run.</summary>
    [JsonPropertyName("heldout_tokens")] public long HeldOutTokens { get; init; }
    /// <summary>Loss the fit predicted (written before the run).</summary>
    [JsonPropertyName("predicted_loss")] public double PredictedLoss { get; init; }
    /// <summary>The held-out run's final validation loss.</summary>
    [JsonPropertyName("measured_loss")] public double? MeasuredLoss { get; init; }
    /// <summary>predicted / measured − 1.</summary>
    [JsonPropertyName("relative_error")] public double? RelativeError { get; init; }
    /// <summary>Per addition model: FLOPs, exact match, mean answer-token log-likelihood.</summary>
    [JsonPropertyName("emergence")] public required IReadOnlyList<EmergencePoint> Emergence { get; init; }
}
