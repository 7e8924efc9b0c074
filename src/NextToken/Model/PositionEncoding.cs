// How token positions enter the model.
namespace NextToken.Model;

/// <summary>How positions are encoded.</summary>
public enum PositionEncoding
{
    /// <summary>A learned (ContextLength, C) table added to the token embedding (GPT-1, GPT-2).</summary>
    Learned,
    /// <summary>Fixed sinusoids added to the token embedding (Vaswani et al. 2017, section 3.5).</summary>
    Sinusoidal,
    /// <summary>Rotary embeddings applied to queries and keys in every layer (Su et al. 2021, RoFormer).</summary>
    Rotary,
}
