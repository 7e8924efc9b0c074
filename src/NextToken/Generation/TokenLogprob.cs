// TokenLogprob: a generated token with its log-probability and the most likely alternatives at that position.
namespace NextToken.Generation;

/// <summary>
/// One generated token. <see cref="Logprob"/> is log softmax of the model's raw logits (temperature 1, before any
/// processor), the quantity PPO and scoring need; <see cref="TopLogprobs"/> lists the n most likely tokens
/// under the same distribution (empty unless <see cref="GenerationOptions.TopLogprobs"/> &gt; 0).
/// </summary>
public readonly record struct TokenLogprob(int Token, float Logprob, IReadOnlyList<TopLogprob> TopLogprobs);
