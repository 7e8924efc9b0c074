// TEMPORARY (removed when the attention and norm kernels land): naive stand-ins with the new signatures.
namespace NextToken.Kernels;

public static partial class RmsNorm
{
    public static void Forward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, Span<float> outp, Span<float> rstd, int N, int C, float eps)
    {
        for (int n = 0; n < N; n++)
        {
            double ss = 0; for (int c = 0; c < C; c++) ss += inp[n * C + c] * inp[n * C + c];
            float r = (float)(1 / Math.Sqrt(ss / C + eps)); rstd[n] = r;
            for (int c = 0; c < C; c++) outp[n * C + c] = inp[n * C + c] * r * weight[c];
        }
    }
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd, Span<float> dinp, Span<float> dweight, int N, int C)
    {
        for (int n = 0; n < N; n++)
        {
            float r = rstd[n]; double dot = 0;
            for (int c = 0; c < C; c++) dot += dout[n * C + c] * weight[c] * inp[n * C + c];
            for (int c = 0; c < C; c++)
            {
                float x = inp[n * C + c];
                dinp[n * C + c] += (float)(r * dout[n * C + c] * weight[c] - r * r * r * x * dot / C);
                if (!dweight.IsEmpty) dweight[c] += dout[n * C + c] * x * r;
            }
        }
    }
}

public static partial class SwiGlu
{
    public static void Forward(ReadOnlySpan<float> inp, Span<float> outp, int N, int F)
    {
        for (int n = 0; n < N; n++)
            for (int f = 0; f < F; f++) { float g = inp[n * 2 * F + f], u = inp[n * 2 * F + F + f]; outp[n * F + f] = g / (1 + MathF.Exp(-g)) * u; }
    }
    public static void Backward(ReadOnlySpan<float> inp, ReadOnlySpan<float> dout, Span<float> dinp, int N, int F)
    {
        for (int n = 0; n < N; n++)
            for (int f = 0; f < F; f++)
            {
                float g = inp[n * 2 * F + f], u = inp[n * 2 * F + F + f], s = 1 / (1 + MathF.Exp(-g)), d = dout[n * F + f];
                dinp[n * 2 * F + f] += d * u * s * (1 + g * (1 - s));
                dinp[n * 2 * F + F + f] += d * g * s;
            }
    }
}

public static unsafe partial class Attention
{
    public static long ScratchSize(int B, int T, int NH) => (long)B * NH * T;

    public static void Forward(ReadOnlySpan<float> qkv, Span<float> outp, Span<float> scratch, ReadOnlySpan<int> keyStart, int B, int T, int NH, int NKV, int HS)
    {
        if (keyStart.IsEmpty && NKV == NH) { Forward(qkv, outp, scratch, B, T, NH * HS, NH); return; }
        int Q = (NH + 2 * NKV) * HS, Cq = NH * HS, G = NH / NKV;
        float scale = 1f / MathF.Sqrt(HS);
        var s = new float[T];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++)
                {
                    int ks = keyStart.IsEmpty ? 0 : keyStart[b * T + t], kh = h / G;
                    float max = float.NegativeInfinity;
                    for (int j = ks; j <= t; j++)
                    {
                        float d = 0;
                        for (int c = 0; c < HS; c++) d += qkv[(b * T + t) * Q + h * HS + c] * qkv[(b * T + j) * Q + Cq + kh * HS + c];
                        s[j] = d * scale; max = Math.Max(max, s[j]);
                    }
                    float sum = 0;
                    for (int j = ks; j <= t; j++) { s[j] = MathF.Exp(s[j] - max); sum += s[j]; }
                    var o = outp.Slice((b * T + t) * Cq + h * HS, HS);
                    o.Clear();
                    for (int j = ks; j <= t; j++)
                        for (int c = 0; c < HS; c++) o[c] += s[j] / sum * qkv[(b * T + j) * Q + Cq + NKV * HS + kh * HS + c];
                    scratch[(b * NH + h) * T + t] = max + MathF.Log(sum);
                }
    }

    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> qkv, ReadOnlySpan<float> outp, ReadOnlySpan<float> scratch, ReadOnlySpan<int> keyStart,
                                Span<float> dqkv, int B, int T, int NH, int NKV, int HS)
    {
        if (keyStart.IsEmpty && NKV == NH) { Backward(dout, qkv, outp, scratch, dqkv, B, T, NH * HS, NH); return; }
        int Q = (NH + 2 * NKV) * HS, Cq = NH * HS, G = NH / NKV;
        float scale = 1f / MathF.Sqrt(HS);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++)
                {
                    int ks = keyStart.IsEmpty ? 0 : keyStart[b * T + t], kh = h / G;
                    float lse = scratch[(b * NH + h) * T + t], D = 0;
                    for (int c = 0; c < HS; c++) D += dout[(b * T + t) * Cq + h * HS + c] * outp[(b * T + t) * Cq + h * HS + c];
                    for (int j = ks; j <= t; j++)
                    {
                        float sc = 0, dp = 0;
                        for (int c = 0; c < HS; c++)
                        {
                            sc += qkv[(b * T + t) * Q + h * HS + c] * qkv[(b * T + j) * Q + Cq + kh * HS + c];
                            dp += dout[(b * T + t) * Cq + h * HS + c] * qkv[(b * T + j) * Q + Cq + NKV * HS + kh * HS + c];
                        }
                        float p = MathF.Exp(sc * scale - lse), ds = p * (dp - D) * scale;
                        for (int c = 0; c < HS; c++)
                        {
                            dqkv[(b * T + j) * Q + Cq + NKV * HS + kh * HS + c] += p * dout[(b * T + t) * Cq + h * HS + c];
                            dqkv[(b * T + t) * Q + h * HS + c] += ds * qkv[(b * T + j) * Q + Cq + kh * HS + c];
                            dqkv[(b * T + j) * Q + Cq + kh * HS + c] += ds * qkv[(b * T + t) * Q + h * HS + c];
                        }
                    }
                }
    }

    public static void Decode(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> outp, int TN, int Tk, int NH, int NKV, int HS)
    {
        if (NKV == NH) { Decode(q, keys, values, outp, TN, Tk, NH * HS, NH); return; }
        int Ck = NKV * HS, Cq = NH * HS, G = NH / NKV;
        float scale = 1f / MathF.Sqrt(HS);
        var s = new float[Tk];
        for (int i = 0; i < TN; i++)
            for (int h = 0; h < NH; h++)
            {
                int n = Tk - TN + i + 1, kh = h / G;
                float max = float.NegativeInfinity;
                for (int j = 0; j < n; j++)
                {
                    float d = 0;
                    for (int c = 0; c < HS; c++) d += q[i * Cq + h * HS + c] * keys[j * Ck + kh * HS + c];
                    s[j] = d * scale; max = Math.Max(max, s[j]);
                }
                float sum = 0;
                for (int j = 0; j < n; j++) { s[j] = MathF.Exp(s[j] - max); sum += s[j]; }
                var o = outp.Slice(i * Cq + h * HS, HS);
                o.Clear();
                for (int j = 0; j < n; j++)
                    for (int c = 0; c < HS; c++) o[c] += s[j] / sum * values[j * Ck + kh * HS + c];
            }
    }
}
