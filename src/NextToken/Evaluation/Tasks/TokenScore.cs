// TokenScore: the summed log-likelihood of a continuation and whether greedy decoding would produce it.
namespace NextToken.Evaluation.Tasks;

/// <summary>Σ log p(continuation token | prefix) over the continuation, and lm-eval's is_greedy (every token is the argmax).</summary>
public readonly record struct TokenScore(double LogLikelihood, bool IsGreedy, int Tokens);
