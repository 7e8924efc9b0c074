// Where LayerNorm sits inside a transformer block.
namespace NextToken.Model;

/// <summary>Placement of LayerNorm relative to the residual branches.</summary>
public enum NormPlacement
{
    /// <summary>x + f(LN(x)) and a final LayerNorm before the head (GPT-2, GPT-3).</summary>
    Pre,
    /// <summary>LN(x + f(x)), no final LayerNorm (GPT-1, the original transformer).</summary>
    Post,
}
