// Linear: y = x·Wᵀ + b with an optional adapter hook; forward and backward over arena slices.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model.Blocks;

/// <summary>A linear layer whose weight (Out, In) and optional bias (Out) live in the model's parameter arena.</summary>
public sealed class Linear
{
    private Linear(string name, TensorSlot weight, TensorSlot? bias, int inFeatures, int outFeatures)
    {
        Name = name; Weight = weight; Bias = bias; In = inFeatures; Out = outFeatures;
    }

    /// <summary>Declares <c>{name}.weight</c> (and <c>{name}.bias</c>) in <paramref name="layout"/>.</summary>
    internal static Linear Declare(TensorLayout layout, string name, int inFeatures, int outFeatures, bool bias) =>
        new(name, layout.Add(name + ".weight", TensorKind.Matrix, outFeatures, inFeatures),
            bias ? layout.Add(name + ".bias", TensorKind.Bias, outFeatures) : null, inFeatures, outFeatures);

    /// <summary>The layer's name, e.g. <c>h.3.attn.c_attn</c> (its tensors are this plus <c>.weight</c> / <c>.bias</c>).</summary>
    public string Name { get; }
    /// <summary>Weight tensor (Out, In).</summary>
    public TensorSlot Weight { get; }
    /// <summary>Bias tensor (Out), or null.</summary>
    public TensorSlot? Bias { get; }
    /// <summary>Input features.</summary>
    public int In { get; }
    /// <summary>Output features.</summary>
    public int Out { get; }
    /// <summary>An adapter whose output is added to this layer's (LoRA); null for none.</summary>
    public ILinearAdapter? Adapter { get; set; }

    // x (N, In) → y (N, Out), overwritten.
    internal void Forward(ParameterStore ps, ReadOnlySpan<float> x, Span<float> y, int N)
    {
        Matmul.Forward(x, ps.P(Weight), ps.P(Bias), y, N, In, Out);
        Adapter?.Forward(x, y, N);
    }

    // dy (N, Out), x (N, In): dx (N, In) += dy·W (skipped when empty); dW += dyᵀ·x and db += Σ dy for trainable tensors.
    internal void Backward(ParameterStore ps, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int N)
    {
        Matmul.Backward(dy, x, ps.P(Weight), dx, ps.G(Weight), ps.G(Bias), N, In, Out);
        Adapter?.Backward(dy, x, dx, N);
    }
}
