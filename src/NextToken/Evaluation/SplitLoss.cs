// SplitLoss: the result of SplitEvaluation.
namespace NextToken.Evaluation;

/// <summary>Mean loss in nats per token over <see cref="Tokens"/> targets, from <see cref="Windows"/> windows of
/// <see cref="SequenceLength"/> tokens started every <see cref="Stride"/> tokens.</summary>
public sealed record SplitLoss(double Loss, long Tokens, long Windows, int SequenceLength, int Stride)
{
    /// <summary>exp(loss).</summary>
    public double Perplexity => Math.Exp(Loss);
    /// <summary>Loss in bits per token.</summary>
    public double BitsPerToken => Loss / Math.Log(2);
}
