// GeneratedSequence: one output of a generation run (tokens, text, log-probabilities, finish reason, score).
namespace NextToken.Generation;

/// <summary>
/// One generated continuation. <see cref="Tokens"/> are the new ids (an end-of-text id that ended it included);
/// <see cref="Text"/> is their text without end-of-text and cut before a stop string.
/// <see cref="Score"/> is the sum of raw log-probabilities, or for beam search the length-penalised beam score.
/// </summary>
public sealed record GeneratedSequence(
    IReadOnlyList<int> Tokens, string Text, IReadOnlyList<TokenLogprob> Logprobs, FinishReason FinishReason, double Score);
