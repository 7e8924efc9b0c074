// ReferenceOutput: everything the double-precision oracle computes for one batch.
namespace NextToken.Tests.Reference;

/// <summary>Results of <see cref="ReferenceGpt.Run"/>; per-position arrays are (B·T) row-major.</summary>
internal sealed class ReferenceOutput
{
    /// <summary>(B·T, C) final hidden states: after the final norm for pre-LN, the last block's output for post-LN.</summary>
    public required double[] Hidden { get; init; }
    /// <summary>(B·T, V) logits over the real vocabulary (padding rows of the head excluded).</summary>
    public required double[] Logits { get; init; }
    /// <summary>log p(target) per position; 0 where the target is negative or there are no targets.</summary>
    public required double[] LogProbs { get; init; }
    /// <summary>Entropy −Σ p log p of the next-token distribution per position (nats).</summary>
    public required double[] Entropy { get; init; }
    /// <summary>Σ w_i · (−log p(target_i)) over targets ≥ 0.</summary>
    public required double WeightedLossSum { get; init; }
    /// <summary>Σ w_i over targets ≥ 0.</summary>
    public required double WeightSum { get; init; }
}
