// Which feed-forward network a block uses.
namespace NextToken.Model;

/// <summary>The MLP of every block.</summary>
public enum MlpKind
{
    /// <summary>proj(GELU(fc(x))), GELU with the tanh approximation (GPT-1/2/3).</summary>
    Gelu,
    /// <summary>proj(SiLU(gate(x)) ∘ up(x)) (Shazeer 2020; LLaMA family); gate and up are one fused (2F, C) matrix, gate rows first.</summary>
    SwiGlu,
}
