// TopLogprob: one alternative token and its log-probability.
namespace NextToken.Generation;

/// <summary>A token id and its log-probability under the model (natural log).</summary>
public readonly record struct TopLogprob(int Token, float Logprob);
