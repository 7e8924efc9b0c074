// EmergencePoint: one model of the emergence study, scored two ways.
using System.Text.Json.Serialization;

namespace NextToken.Scaling;

/// <summary>A model's training compute, exact match and mean answer-token log-likelihood.</summary>
public sealed record EmergencePoint(
    [property: JsonPropertyName("run")] string Run,
    [property: JsonPropertyName("params")] long Parameters,
    [property: JsonPropertyName("flops")] double Flops,
    [property: JsonPropertyName("exact_match")] double ExactMatch,
    [property: JsonPropertyName("token_log_likelihood")] double TokenLogLikelihood);
