// Gelu: the tanh approximation of GELU used by GPT-2, forward and backward.
namespace NextToken.Kernels;

/// <summary>GELU(x) ≈ 0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³))) (Hendrycks and Gimpel 2016).</summary>
public static class Gelu
{
    private const float ScalingFactor = 0.7978845608028654f; // sqrt(2 / pi)

    /// <summary>inp and outp are (N).</summary>
    public static void Forward(ReadOnlySpan<float> inp, Span<float> outp, int N)
    {
        for (int i = 0; i < N; i++)
        {
            float x = inp[i];
            float cube = 0.044715f * x * x * x;
            outp[i] = 0.5f * x * (1f + MathF.Tanh(ScalingFactor * (x + cube)));
        }
    }

    /// <summary>inp and dout are (N); accumulates dinp (N) += GELU'(inp) * dout.</summary>
    public static void Backward(ReadOnlySpan<float> inp, ReadOnlySpan<float> dout, Span<float> dinp, int N)
    {
        for (int i = 0; i < N; i++)
        {
            float x = inp[i];
            float cube = 0.044715f * x * x * x;
            float tanhArg = ScalingFactor * (x + cube);
            float tanhOut = MathF.Tanh(tanhArg);
            float sech2 = 1f - tanhOut * tanhOut;
            float grad = 0.5f * (1f + tanhOut) + x * 0.5f * sech2 * ScalingFactor * (1f + 3f * 0.044715f * x * x);
            dinp[i] += grad * dout[i];
        }
    }
}
