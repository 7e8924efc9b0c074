// ComputeOptimal: a compute budget's optimal model size, tokens and predicted loss.
namespace NextToken.Scaling;

/// <summary>At <paramref name="Flops"/> = 6·N·D: the optimal <paramref name="Parameters"/> N, <paramref name="Tokens"/> D and the law's loss.</summary>
public sealed record ComputeOptimal(double Flops, double Parameters, double Tokens, double Loss);
