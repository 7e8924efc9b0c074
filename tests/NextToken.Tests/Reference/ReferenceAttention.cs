// ReferenceAttention: naive double-precision causal attention with grouped-query heads and per-row key ranges, forward
// and analytic backward, the oracle for the fused kernel in Kernels/Attention.cs.
namespace NextToken.Tests.Reference;

/// <summary>
/// qkv is (B, T, (NH + 2·NKV)·HS): query heads, then key heads, then value heads; query head h reads key/value head
/// h / (NH/NKV). Row t of sequence b attends to keys keyStart[b·T+t] .. t (0 .. t when keyStart is null).
/// </summary>
internal static class ReferenceAttention
{
    // The softmax probabilities of row t of query head h over keys st .. t (p[j - st]), and st.
    private static (double[] p, int st) Probabilities(double[] qkv, int[]? keyStart, int b, int t, int h, int T, int NH, int NKV, int HS)
    {
        int W = (NH + 2 * NKV) * HS, g = h / (NH / NKV), st = keyStart?[b * T + t] ?? 0;
        var p = new double[t + 1 - st];
        double max = double.NegativeInfinity;
        for (int j = st; j <= t; j++)
        {
            double d = 0;
            for (int c = 0; c < HS; c++) d += qkv[(b * T + t) * W + h * HS + c] * qkv[(b * T + j) * W + (NH + g) * HS + c];
            p[j - st] = d / Math.Sqrt(HS);
            max = Math.Max(max, p[j - st]);
        }
        double sum = 0;
        for (int i = 0; i < p.Length; i++) { p[i] = Math.Exp(p[i] - max); sum += p[i]; }
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return (p, st);
    }

    /// <summary>out (B, T, NH·HS): out[b,t,h] = Σ_{j = keyStart .. t} softmax_j(q_t·k_j / sqrt(HS)) v_j.</summary>
    public static double[] Forward(double[] qkv, int[]? keyStart, int B, int T, int NH, int NKV, int HS)
    {
        int W = (NH + 2 * NKV) * HS, C = NH * HS;
        var o = new double[B * T * C];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++)
                {
                    var (p, st) = Probabilities(qkv, keyStart, b, t, h, T, NH, NKV, HS);
                    int v = (NH + NKV + h / (NH / NKV)) * HS;
                    for (int j = st; j <= t; j++)
                        for (int c = 0; c < HS; c++) o[(b * T + t) * C + h * HS + c] += p[j - st] * qkv[(b * T + j) * W + v + c];
                }
        return o;
    }

    /// <summary>
    /// dqkv (B, T, (NH + 2·NKV)·HS) for dout (B, T, NH·HS): with P the probabilities, dP_tj = dO_t·v_j, D_t = Σ_j P_tj dP_tj,
    /// dS_tj = P_tj (dP_tj - D_t) / sqrt(HS): dq_t = Σ_j dS_tj k_j, dk_j = Σ_t dS_tj q_t, dv_j = Σ_t P_tj dO_t.
    /// </summary>
    public static double[] Backward(double[] qkv, double[] dout, int[]? keyStart, int B, int T, int NH, int NKV, int HS)
    {
        int W = (NH + 2 * NKV) * HS, C = NH * HS;
        var d = new double[B * T * W];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++)
                {
                    var (p, st) = Probabilities(qkv, keyStart, b, t, h, T, NH, NKV, HS);
                    int g = h / (NH / NKV), k = (NH + g) * HS, v = (NH + NKV + g) * HS, q = (b * T + t) * W + h * HS, dO = (b * T + t) * C + h * HS;
                    var dp = new double[p.Length];
                    double D = 0;
                    for (int j = st; j <= t; j++)
                    {
                        for (int c = 0; c < HS; c++) dp[j - st] += dout[dO + c] * qkv[(b * T + j) * W + v + c];
                        D += p[j - st] * dp[j - st];
                    }
                    for (int j = st; j <= t; j++)
                    {
                        double ds = p[j - st] * (dp[j - st] - D) / Math.Sqrt(HS);
                        for (int c = 0; c < HS; c++)
                        {
                            d[q + c] += ds * qkv[(b * T + j) * W + k + c];
                            d[(b * T + j) * W + k + c] += ds * qkv[q + c];
                            d[(b * T + j) * W + v + c] += p[j - st] * dout[dO + c];
                        }
                    }
                }
        return d;
    }
}
