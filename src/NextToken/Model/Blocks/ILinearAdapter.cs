// ILinearAdapter: the hook a Linear layer calls after its own product (LoRA and other adapters live outside the model).
namespace NextToken.Model.Blocks;

/// <summary>
/// Adds a learned correction to a <see cref="Linear"/> layer's output, e.g. LoRA's (α/r)·x·Aᵀ·Bᵀ (Hu et al. 2021).
/// The adapter owns its parameters, gradients and whatever it keeps between forward and backward; it is called by
/// training, KV-cache decoding and batched decoding alike.
/// </summary>
public interface ILinearAdapter
{
    /// <summary>x is (N, In), y is (N, Out) and already holds x·Wᵀ + b: adds the adapter's output to y.</summary>
    void Forward(ReadOnlySpan<float> x, Span<float> y, int N);

    /// <summary>
    /// dy is (N, Out), x (N, In) the forward's input. Accumulates the adapter's own gradients and, unless dx is empty,
    /// dx (N, In) += its share of the input gradient. Called after the forward of the same rows.
    /// </summary>
    void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int N);
}
