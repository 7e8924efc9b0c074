// TEMPORARY (removed when the generalised attention kernel lands): naive stand-ins with the new signatures.
namespace NextToken.Kernels;

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
