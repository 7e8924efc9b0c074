// ScalarKernels: plain single-threaded scalar versions of the kernels, the baselines of the benchmarks (not used by
// the library). Attention here is the textbook form that stores the (T, T) probabilities.
namespace NextToken.Benchmarks;

internal static class ScalarKernels
{
    public static void AttentionForward(float[] qkv, float[] outp, float[] att, int B, int T, int C, int NH)
    {
        int HS = C / NH, C3 = 3 * C;
        float scale = 1f / MathF.Sqrt(HS);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++)
                {
                    int a = ((b * NH + h) * T + t) * T, q = (b * T + t) * C3 + h * HS;
                    float max = float.NegativeInfinity;
                    for (int j = 0; j <= t; j++)
                    {
                        int k = (b * T + j) * C3 + C + h * HS;
                        float s = 0f;
                        for (int c = 0; c < HS; c++) s += qkv[q + c] * qkv[k + c];
                        att[a + j] = s * scale;
                        max = Math.Max(max, att[a + j]);
                    }
                    float sum = 0f;
                    for (int j = 0; j <= t; j++) { att[a + j] = MathF.Exp(att[a + j] - max); sum += att[a + j]; }
                    for (int j = 0; j <= t; j++) att[a + j] /= sum;
                    int o = (b * T + t) * C + h * HS;
                    for (int c = 0; c < HS; c++) outp[o + c] = 0f;
                    for (int j = 0; j <= t; j++)
                    {
                        int v = (b * T + j) * C3 + 2 * C + h * HS;
                        for (int c = 0; c < HS; c++) outp[o + c] += att[a + j] * qkv[v + c];
                    }
                }
    }

    public static void AttentionBackward(float[] dout, float[] qkv, float[] att, float[] dqkv, int B, int T, int C, int NH)
    {
        int HS = C / NH, C3 = 3 * C;
        float scale = 1f / MathF.Sqrt(HS);
        var datt = new float[T];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++)
                {
                    int a = ((b * NH + h) * T + t) * T, d = (b * T + t) * C + h * HS, q = (b * T + t) * C3 + h * HS;
                    for (int j = 0; j <= t; j++)
                    {
                        int v = (b * T + j) * C3 + 2 * C + h * HS;
                        float s = 0f;
                        for (int c = 0; c < HS; c++) { s += dout[d + c] * qkv[v + c]; dqkv[v + c] += att[a + j] * dout[d + c]; }
                        datt[j] = s;
                    }
                    float dot = 0f;
                    for (int j = 0; j <= t; j++) dot += att[a + j] * datt[j];
                    for (int j = 0; j <= t; j++)
                    {
                        float ds = att[a + j] * (datt[j] - dot) * scale;
                        int k = (b * T + j) * C3 + C + h * HS;
                        for (int c = 0; c < HS; c++) { dqkv[q + c] += ds * qkv[k + c]; dqkv[k + c] += ds * qkv[q + c]; }
                    }
                }
    }

    public static void LayerNormForward(float[] x, float[] w, float[] bias, float[] y, float[] mean, float[] rstd, int N, int C, float eps)
    {
        for (int n = 0; n < N; n++)
        {
            float m = 0f;
            for (int c = 0; c < C; c++) m += x[n * C + c];
            m /= C;
            float v = 0f;
            for (int c = 0; c < C; c++) { float d = x[n * C + c] - m; v += d * d; }
            float s = 1f / MathF.Sqrt(v / C + eps);
            for (int c = 0; c < C; c++) y[n * C + c] = (x[n * C + c] - m) * s * w[c] + bias[c];
            mean[n] = m; rstd[n] = s;
        }
    }

    public static void LayerNormBackward(float[] dout, float[] x, float[] w, float[] mean, float[] rstd, float[] dx, float[] dw, float[] db, int N, int C)
    {
        for (int n = 0; n < N; n++)
        {
            float m = mean[n], s = rstd[n], gm = 0f, gx = 0f;
            for (int c = 0; c < C; c++) { float g = dout[n * C + c] * w[c]; gm += g; gx += g * (x[n * C + c] - m) * s; }
            gm /= C; gx /= C;
            for (int c = 0; c < C; c++)
            {
                float xh = (x[n * C + c] - m) * s;
                dx[n * C + c] += s * (dout[n * C + c] * w[c] - gm - xh * gx);
                dw[c] += dout[n * C + c] * xh;
                db[c] += dout[n * C + c];
            }
        }
    }

    private const float K = 0.7978845608028654f;

    public static void GeluForward(float[] x, float[] y, int N)
    {
        for (int i = 0; i < N; i++) { float v = x[i]; y[i] = 0.5f * v * (1f + MathF.Tanh(K * (v + 0.044715f * v * v * v))); }
    }

    public static void GeluBackward(float[] x, float[] dout, float[] dx, int N)
    {
        for (int i = 0; i < N; i++)
        {
            float v = x[i], t = MathF.Tanh(K * (v + 0.044715f * v * v * v));
            dx[i] += (0.5f * (1f + t) + 0.5f * v * (1f - t * t) * K * (1f + 3f * 0.044715f * v * v)) * dout[i];
        }
    }

    public static void CrossEntropy(float[] logits, int[] targets, float[] losses, int N, int V, float dloss)
    {
        for (int n = 0; n < N; n++)
        {
            int o = n * V;
            float max = float.NegativeInfinity;
            for (int v = 0; v < V; v++) max = Math.Max(max, logits[o + v]);
            double sum = 0;
            for (int v = 0; v < V; v++) sum += MathF.Exp(logits[o + v] - max);
            float logSum = (float)Math.Log(sum) + max;
            losses[n] = logSum - logits[o + targets[n]];
            for (int v = 0; v < V; v++) logits[o + v] = MathF.Exp(logits[o + v] - logSum) * dloss;
            logits[o + targets[n]] -= dloss;
        }
    }

    public static void AdamW(float[] p, float[] g, float[] m, float[] v, float lr, float b1, float b2, float eps, float wd, long step)
    {
        float c1 = 1f / (1f - MathF.Pow(b1, step)), c2 = 1f / (1f - MathF.Pow(b2, step));
        for (int i = 0; i < p.Length; i++)
        {
            float mi = m[i] = b1 * m[i] + (1f - b1) * g[i];
            float vi = v[i] = b2 * v[i] + (1f - b2) * g[i] * g[i];
            p[i] -= lr * (mi * c1 / (MathF.Sqrt(vi * c2) + eps) + wd * p[i]);
        }
    }
}
