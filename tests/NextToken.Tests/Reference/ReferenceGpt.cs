// ReferenceGpt: a naive double-precision GPT forward (loops only) used as the oracle for finite differences.
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Tests.Reference;

/// <summary>Plain loops, double precision, no shared code with the kernels beyond the parameter layout.</summary>
internal static class ReferenceGpt
{
    public static double Loss(GptConfig cfg, TensorLayout layout, double[] p, int[] inputs, int[] targets, int B, int T)
    {
        int C = cfg.EmbeddingSize, NH = cfg.Heads, HS = C / NH, V = cfg.VocabSize;
        double[] W(string name) { var s = layout[name]; var r = new double[s.Length]; Array.Copy(p, s.Offset, r, 0, s.Length); return r; }
        double[]? Wopt(string name) => layout.Contains(name) ? W(name) : null;
        double total = 0; int counted = 0;
        for (int b = 0; b < B; b++)
        {
            var x = new double[T][];
            var wte = W("wte.weight");
            var wpe = Wopt("wpe.weight");
            for (int t = 0; t < T; t++)
            {
                x[t] = new double[C];
                for (int c = 0; c < C; c++)
                {
                    double pe = 0;
                    if (cfg.Positions == PositionEncoding.Learned) pe = wpe![t * C + c];
                    else if (cfg.Positions == PositionEncoding.Sinusoidal)
                    {
                        int i = c - c % 2;
                        double angle = t / Math.Pow(10000.0, (double)i / C);
                        pe = c % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle);
                    }
                    x[t][c] = wte[inputs[b * T + t] * C + c] + pe;
                }
            }
            for (int l = 0; l < cfg.Layers; l++)
            {
                string pf = $"h.{l}.";
                bool pre = cfg.Norm == NormPlacement.Pre;
                var attIn = pre ? x.Select(r => Ln(r, W(pf + "ln_1.weight"), Wopt(pf + "ln_1.bias"), cfg.LayerNormEpsilon)).ToArray() : x;
                var qkv = attIn.Select(r => Linear(r, W(pf + "attn.c_attn.weight"), Wopt(pf + "attn.c_attn.bias"), 3 * C)).ToArray();
                if (cfg.Positions == PositionEncoding.Rotary)
                    for (int t = 0; t < T; t++)
                        for (int part = 0; part < 2; part++)
                            for (int h = 0; h < NH; h++)
                                for (int i = 0; i < HS / 2; i++)
                                {
                                    int j = part * C + h * HS + 2 * i;
                                    double ang = t * Math.Pow(cfg.RotaryBase, -2.0 * i / HS);
                                    double a = qkv[t][j], bb = qkv[t][j + 1];
                                    qkv[t][j] = a * Math.Cos(ang) - bb * Math.Sin(ang);
                                    qkv[t][j + 1] = a * Math.Sin(ang) + bb * Math.Cos(ang);
                                }
                var y = new double[T][];
                for (int t = 0; t < T; t++)
                {
                    y[t] = new double[C];
                    for (int h = 0; h < NH; h++)
                    {
                        var s = new double[t + 1];
                        for (int t2 = 0; t2 <= t; t2++)
                        {
                            double d = 0;
                            for (int k = 0; k < HS; k++) d += qkv[t][h * HS + k] * qkv[t2][C + h * HS + k];
                            s[t2] = d / Math.Sqrt(HS);
                        }
                        double mx = s.Max(), sum = 0;
                        for (int t2 = 0; t2 <= t; t2++) { s[t2] = Math.Exp(s[t2] - mx); sum += s[t2]; }
                        for (int t2 = 0; t2 <= t; t2++)
                            for (int k = 0; k < HS; k++) y[t][h * HS + k] += s[t2] / sum * qkv[t2][2 * C + h * HS + k];
                    }
                }
                var attOut = y.Select(r => Linear(r, W(pf + "attn.c_proj.weight"), Wopt(pf + "attn.c_proj.bias"), C)).ToArray();
                var r2 = Add(x, attOut);
                double[][] mlpIn;
                if (pre) mlpIn = r2.Select(r => Ln(r, W(pf + "ln_2.weight"), Wopt(pf + "ln_2.bias"), cfg.LayerNormEpsilon)).ToArray();
                else { r2 = r2.Select(r => Ln(r, W(pf + "ln_1.weight"), Wopt(pf + "ln_1.bias"), cfg.LayerNormEpsilon)).ToArray(); mlpIn = r2; }
                var mlp = mlpIn.Select(r => Linear(Linear(r, W(pf + "mlp.c_fc.weight"), Wopt(pf + "mlp.c_fc.bias"), cfg.MlpSize).Select(GeluD).ToArray(),
                                                   W(pf + "mlp.c_proj.weight"), Wopt(pf + "mlp.c_proj.bias"), C)).ToArray();
                x = Add(r2, mlp);
                if (!pre) x = x.Select(r => Ln(r, W(pf + "ln_2.weight"), Wopt(pf + "ln_2.bias"), cfg.LayerNormEpsilon)).ToArray();
            }
            if (cfg.FinalNorm) x = x.Select(r => Ln(r, W("ln_f.weight"), Wopt("ln_f.bias"), cfg.LayerNormEpsilon)).ToArray();
            var head = cfg.TiedEmbeddings ? W("wte.weight") : W("lm_head.weight");
            for (int t = 0; t < T; t++)
            {
                int target = targets[b * T + t];
                if (target < 0) continue;
                var logits = Linear(x[t], head, null, V);
                double mx = logits.Max();
                double lse = Math.Log(logits.Sum(z => Math.Exp(z - mx))) + mx;
                total += lse - logits[target];
                counted++;
            }
        }
        return total / counted;
    }

    public static double GeluD(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    public static double[] Linear(double[] x, double[] w, double[]? bias, int outDim)
    {
        int C = x.Length;
        var y = new double[outDim];
        for (int o = 0; o < outDim; o++)
        {
            double s = bias?[o] ?? 0;
            for (int c = 0; c < C; c++) s += x[c] * w[o * C + c];
            y[o] = s;
        }
        return y;
    }

    public static double[] Ln(double[] x, double[] g, double[]? b, double eps)
    {
        double m = x.Average();
        double v = x.Select(z => (z - m) * (z - m)).Average();
        double s = 1 / Math.Sqrt(v + eps);
        return x.Select((z, i) => (z - m) * s * g[i] + (b?[i] ?? 0)).ToArray();
    }

    /// <summary>RMSNorm (Zhang and Sennrich 2019): x / sqrt(mean(x²) + eps) · g, no mean subtraction, no bias.</summary>
    public static double[] Rms(double[] x, double[] g, double eps)
    {
        double ms = 0;
        foreach (double z in x) ms += z * z;
        double s = 1 / Math.Sqrt(ms / x.Length + eps);
        return x.Select((z, i) => z * s * g[i]).ToArray();
    }

    /// <summary>σ(x) = 1 / (1 + e^−x), written so that neither tail overflows.</summary>
    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    /// <summary>SiLU(x) = x·σ(x) (exact, as SwiGLU uses it).</summary>
    public static double SiluD(double x) => x * Sigmoid(x);

    private static double[][] Add(double[][] a, double[][] b) => a.Select((r, i) => r.Select((z, j) => z + b[i][j]).ToArray()).ToArray();
}
