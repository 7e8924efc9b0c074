// Which normalisation a block uses.
namespace NextToken.Model;

/// <summary>The normalisation layer of every block (and the final one).</summary>
public enum NormKind
{
    /// <summary>LayerNorm (Ba et al. 2016): (x - mean) / sqrt(var + eps) · g + b (GPT-1/2/3).</summary>
    LayerNorm,
    /// <summary>RMSNorm (Zhang &amp; Sennrich 2019): x / sqrt(mean(x²) + eps) · g, no bias (LLaMA family).</summary>
    RmsNorm,
}
