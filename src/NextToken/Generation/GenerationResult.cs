// GenerationResult: the sequences of one prompt plus what the run cost (forwards, speculative acceptance).
namespace NextToken.Generation;

/// <summary>
/// Everything one prompt produced. <see cref="Sequences"/> holds <see cref="GenerationOptions.NumSequences"/> samples,
/// or the n best beams best first. <see cref="PromptTokens"/> is the prompt as run (its last context tokens when
/// <see cref="PromptTruncated"/>).
/// </summary>
public sealed record GenerationResult(IReadOnlyList<GeneratedSequence> Sequences, IReadOnlyList<int> PromptTokens, bool PromptTruncated)
{
    /// <summary>The first (best) sequence.</summary>
    public GeneratedSequence Best => Sequences[0];
    /// <summary>Draft tokens proposed (speculative and prompt-lookup decoding).</summary>
    public long DraftedTokens { get; init; }
    /// <summary>Draft tokens the target accepted.</summary>
    public long AcceptedTokens { get; init; }
    /// <summary>Target-model forward calls (verification steps count once).</summary>
    public long TargetForwards { get; init; }
    /// <summary>Accepted ÷ drafted (0 when nothing was drafted).</summary>
    public double AcceptanceRate => DraftedTokens == 0 ? 0 : (double)AcceptedTokens / DraftedTokens;
}
