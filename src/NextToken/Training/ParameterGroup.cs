// ParameterGroup: a set of tensors with its own learning-rate multiplier and weight decay.
using NextToken.Tensors;

namespace NextToken.Training;

/// <summary>
/// Tensors that <see cref="Selects"/> picks get <see cref="LearningRateScale"/> × the scheduled learning rate and
/// <see cref="WeightDecay"/> (null: the optimizer's default for their kind — decay on matrices and embeddings only).
/// The first group that selects a tensor wins; tensors no group selects use the defaults. Frozen tensors are not
/// groups: freeze them on the model (<c>GptModel.Freeze</c>) so they get no gradient or optimizer memory at all.
/// </summary>
/// <param name="Name">For logs and errors.</param>
/// <param name="Selects">Which tensors belong to the group.</param>
public sealed record ParameterGroup(string Name, Func<TensorSlot, bool> Selects)
{
    /// <summary>Multiplier on the learning rate (1 = the schedule's rate).</summary>
    public float LearningRateScale { get; init; } = 1f;
    /// <summary>Decoupled weight decay for the group; null keeps the per-kind default.</summary>
    public float? WeightDecay { get; init; }
}
