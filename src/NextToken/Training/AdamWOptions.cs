// AdamWOptions: the optimizer's hyper-parameters.
namespace NextToken.Training;

/// <summary>AdamW hyper-parameters (Loshchilov and Hutter 2019). Defaults follow nanoGPT/GPT-3.</summary>
public sealed record AdamWOptions
{
    /// <summary>First-moment decay.</summary>
    public float Beta1 { get; init; } = 0.9f;
    /// <summary>Second-moment decay (0.95 for GPT-3 scale, 0.99 for small models).</summary>
    public float Beta2 { get; init; } = 0.95f;
    /// <summary>Denominator epsilon.</summary>
    public float Epsilon { get; init; } = 1e-8f;
    /// <summary>Decoupled weight decay, applied to matrices and embeddings only (not biases or LayerNorm gains).</summary>
    public float WeightDecay { get; init; } = 0.1f;
}
