// ScalingRun: one finished training run as a scaling-law fit reads it (a results.jsonl line).
namespace NextToken.Scaling;

/// <summary>
/// One run: parameters N (all, and Kaplan's non-embedding), training tokens D, training FLOPs C, final validation loss
/// L, and the IsoFLOP budget it was planned for (null outside IsoFLOP sweeps).
/// </summary>
public sealed record ScalingRun(double Parameters, double NonEmbeddingParameters, double Tokens, double Flops, double Loss, double? Budget = null, string? Name = null);
