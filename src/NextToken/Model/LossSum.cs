// LossSum: a weighted loss as sum and weight, so micro-batches combine into the mean over the whole optimizer batch.
namespace NextToken.Model;

/// <summary>Σ_i w_i·(−log p(target_i)) and Σ_i w_i over the counted targets of one forward.</summary>
/// <param name="Sum">Weighted sum of the per-token losses.</param>
/// <param name="Weight">Sum of the weights (the number of counted targets when every weight is 1).</param>
public readonly record struct LossSum(double Sum, double Weight)
{
    /// <summary>The weighted mean (0 when nothing was counted).</summary>
    public double Mean => Weight > 0 ? Sum / Weight : 0;

    /// <summary>Adds two micro-batches.</summary>
    public static LossSum operator +(LossSum a, LossSum b) => new(a.Sum + b.Sum, a.Weight + b.Weight);
}
