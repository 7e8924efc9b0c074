// LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension, forward and backward.
namespace NextToken.Kernels;

/// <summary>LayerNorm (Ba et al. 2016) over rows of length C.</summary>
public static unsafe class LayerNorm
{
    /// <summary>
    /// inp is (N, C); weight and bias are (C) (bias may be empty); outp is (N, C); mean and rstd are (N) and are
    /// kept for backward.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> outp,
                               Span<float> mean, Span<float> rstd, int N, int C, float eps)
    {
        fixed (float* pi = inp, pw = weight, pb = bias, po = outp, pm = mean, pr = rstd)
        {
            float* i0 = pi, w0 = pw, b0 = pb, o0 = po, m0 = pm, r0 = pr;
            bool hasBias = !bias.IsEmpty;
            Parallel.For(0, N, n =>
            {
                float* x = i0 + (long)n * C;
                float* y = o0 + (long)n * C;
                float m = 0f;
                for (int c = 0; c < C; c++) m += x[c];
                m /= C;
                float v = 0f;
                for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
                v /= C;
                float s = 1f / MathF.Sqrt(v + eps);
                for (int c = 0; c < C; c++) y[c] = (x[c] - m) * s * w0[c] + (hasBias ? b0[c] : 0f);
                m0[n] = m;
                r0[n] = s;
            });
        }
    }

    /// <summary>
    /// dout, inp are (N, C); weight (C); mean, rstd (N) from forward. Accumulates dinp (N, C), dweight (C), dbias (C)
    /// (dbias may be empty). With xhat = (x - mean) * rstd and g = dout * weight:
    /// dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight,
                                ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
                                Span<float> dinp, Span<float> dweight, Span<float> dbias, int N, int C)
    {
        fixed (float* pd = dout, pi = inp, pw = weight, pm = mean, pr = rstd, pdi = dinp)
        {
            float* d0 = pd, i0 = pi, w0 = pw, m0 = pm, r0 = pr, di0 = pdi;
            Parallel.For(0, N, n =>
            {
                float* x = i0 + (long)n * C, d = d0 + (long)n * C, di = di0 + (long)n * C;
                float m = m0[n], s = r0[n];
                float gMean = 0f, gxMean = 0f;
                for (int c = 0; c < C; c++)
                {
                    float g = d[c] * w0[c];
                    gMean += g;
                    gxMean += g * (x[c] - m) * s;
                }
                gMean /= C; gxMean /= C;
                for (int c = 0; c < C; c++)
                {
                    float xhat = (x[c] - m) * s;
                    di[c] += s * (d[c] * w0[c] - gMean - xhat * gxMean);
                }
            });
        }
        // Parameter gradients: a serial sum over rows in a fixed order (deterministic); vectorised over C.
        for (int n = 0; n < N; n++)
        {
            var x = inp.Slice(n * C, C);
            var d = dout.Slice(n * C, C);
            float m = mean[n], s = rstd[n];
            for (int c = 0; c < C; c++)
            {
                dweight[c] += d[c] * (x[c] - m) * s;
                if (!dbias.IsEmpty) dbias[c] += d[c];
            }
        }
    }
}
