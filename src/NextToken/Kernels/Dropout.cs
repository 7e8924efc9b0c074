// Dropout: inverted dropout with a stored keep-mask, forward and backward.
namespace NextToken.Kernels;

/// <summary>Inverted dropout (Srivastava et al. 2014): kept activations are scaled by 1/(1-p) during training.</summary>
public static class Dropout
{
    /// <summary>
    /// inp, outp, mask are (N); the mask receives 0 or 1/(1-p) drawn from <paramref name="rng"/>.
    /// In place (inp and outp the same span) is allowed.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> inp, Span<float> outp, Span<float> mask, float p, ref Tensors.Rng rng, int N)
    {
        float scale = 1f / (1f - p);
        for (int i = 0; i < N; i++)
        {
            float m = rng.NextFloat() < p ? 0f : scale;
            mask[i] = m;
            outp[i] = inp[i] * m;
        }
    }

    /// <summary>dout and mask are (N); dinp (N) = dout * mask, written in place when dinp and dout are the same span.</summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> mask, Span<float> dinp, int N)
    {
        for (int i = 0; i < N; i++) dinp[i] = dout[i] * mask[i];
    }
}
