// Norm: LayerNorm or RMSNorm over the last dimension, forward and backward over arena slices.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model.Blocks;

/// <summary>LayerNorm (gain, optional bias) or RMSNorm (gain only), chosen by the config.</summary>
public sealed class Norm
{
    private Norm(NormKind kind, TensorSlot weight, TensorSlot? bias, int width, float eps)
    {
        Kind = kind; Weight = weight; Bias = bias; Width = width; Epsilon = eps;
    }

    internal static Norm Declare(TensorLayout layout, string name, GptConfig cfg)
    {
        int C = cfg.EmbeddingSize;
        var w = layout.Add(name + ".weight", TensorKind.Gain, C);
        var b = cfg.NormKind == NormKind.LayerNorm && cfg.Bias ? layout.Add(name + ".bias", TensorKind.Bias, C) : null;
        return new Norm(cfg.NormKind, w, b, C, cfg.LayerNormEpsilon);
    }

    /// <summary>LayerNorm or RMSNorm.</summary>
    public NormKind Kind { get; }
    /// <summary>Gain (C).</summary>
    public TensorSlot Weight { get; }
    /// <summary>Bias (C), LayerNorm with biases only.</summary>
    public TensorSlot? Bias { get; }
    /// <summary>C.</summary>
    public int Width { get; }
    /// <summary>Epsilon inside the square root.</summary>
    public float Epsilon { get; }

    // x (N, C) → y (N, C); mean and rstd (N) are kept for backward (RMSNorm leaves mean untouched).
    internal void Forward(ParameterStore ps, ReadOnlySpan<float> x, Span<float> y, Span<float> mean, Span<float> rstd, int N)
    {
        if (Kind == NormKind.LayerNorm) LayerNorm.Forward(x, ps.P(Weight), ps.P(Bias), y, mean, rstd, N, Width, Epsilon);
        else RmsNorm.Forward(x, ps.P(Weight), y, rstd, N, Width, Epsilon);
    }

    // dy, x (N, C): dx (N, C) += the input gradient; gain and bias gradients accumulate when trainable.
    internal void Backward(ParameterStore ps, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, int N)
    {
        if (Kind == NormKind.LayerNorm) LayerNorm.Backward(dy, x, ps.P(Weight), mean, rstd, dx, ps.G(Weight), ps.G(Bias), N, Width);
        else RmsNorm.Backward(dy, x, ps.P(Weight), rstd, dx, ps.G(Weight), N, Width);
    }
}
