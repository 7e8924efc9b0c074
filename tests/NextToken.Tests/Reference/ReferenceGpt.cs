// ReferenceGpt: a naive double-precision GPT forward (loops only) used as the oracle for finite differences.
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Tests.Reference;

/// <summary>
/// Plain loops, double precision, no shared code with the kernels beyond the parameter layout (names and shapes as
/// <c>GptParameters.Layout</c> declares them; matrices (out, in) like nn.Linear). Covers every variant of
/// <see cref="GptConfig"/>: grouped-query attention, SwiGLU, RMSNorm, learned/sinusoidal/rotary positions, biases,
/// tied or untied head, pre- or post-LN, plus packed documents, explicit positions, prefix embeddings, loss weights
/// and dropout masks (<see cref="ReferenceInput"/>).
/// </summary>
internal static class ReferenceGpt
{
    /// <summary>Mean next-token loss over the targets ≥ 0 (every weight 1): <see cref="Run"/>'s WeightedLossSum / WeightSum.</summary>
    public static double Loss(GptConfig cfg, TensorLayout layout, double[] p, int[] inputs, int[] targets, int B, int T)
    {
        var o = Run(cfg, layout, p, new ReferenceInput { Inputs = inputs, Targets = targets, B = B, T = T });
        return o.WeightedLossSum / o.WeightSum;
    }

    /// <summary>The full forward of one batch: hidden states, logits, per-position log-probabilities and entropies, weighted loss.</summary>
    public static ReferenceOutput Run(GptConfig cfg, TensorLayout layout, double[] p, ReferenceInput x)
    {
        int B = x.B, T = x.T, BT = B * T, P = x.PrefixLength;
        int C = cfg.EmbeddingSize, NH = cfg.Heads, NKV = cfg.KvHeadCount, HS = C / NH, V = cfg.VocabSize, Vp = cfg.PaddedVocabSize, F = cfg.MlpSize;
        int group = NH / NKV;
        bool pre = cfg.Norm == NormPlacement.Pre, swiglu = cfg.Mlp == MlpKind.SwiGlu, rms = cfg.NormKind == NormKind.RmsNorm;
        double eps = cfg.LayerNormEpsilon;
        if (B < 0 || T < 0 || x.Inputs.Length != BT) throw new ArgumentException($"inputs must hold B·T = {BT} ids (got {x.Inputs.Length})");
        if (x.Targets is not null && x.Targets.Length != BT) throw new ArgumentException($"targets must hold B·T = {BT} ids");
        if (x.Weights is not null && x.Weights.Length != BT) throw new ArgumentException($"weights must hold B·T = {BT} values");
        if (x.DocumentIds is not null && x.DocumentIds.Length != BT) throw new ArgumentException($"document ids must hold B·T = {BT} values");
        if (x.PositionIds is not null && x.PositionIds.Length != BT) throw new ArgumentException($"position ids must hold B·T = {BT} values");
        int K = P == 0 ? 0 : x.PrefixStarts is null ? 1 : x.PrefixStarts.Length / B;
        if (P < 0 || P > T || (P > 0 && (x.Prefix is null || x.Prefix.Length != (long)B * K * P * C)))
            throw new ArgumentException($"prefix must be (B, K, {P}, C) = {(long)B * K * P * C} values with 0 ≤ PrefixLength ≤ T");
        // Which prefix vector, if any, each position of each row reads: (b·K + k)·P + (t − start), or −1 for a token.
        var prefixRow = new int[BT];
        Array.Fill(prefixRow, -1);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++)
                for (int t = 0; t < P && (x.PrefixStarts?[b * K + k] ?? 0) >= 0; t++) // a negative start: the span is unused
                    prefixRow[b * T + (x.PrefixStarts?[b * K + k] ?? 0) + t] = (b * K + k) * P + t;

        // Parameters, checked against the expected shape so a layout mistake fails loudly.
        double[] W(string name, params int[] shape)
        {
            var s = layout[name];
            if (!s.Shape.SequenceEqual(shape))
                throw new ArgumentException($"'{name}' has shape ({string.Join(", ", s.Shape)}), expected ({string.Join(", ", shape)})");
            var r = new double[s.Length];
            Array.Copy(p, s.Offset, r, 0, s.Length);
            return r;
        }
        double[]? Wopt(string name, params int[] shape) => layout.Contains(name) ? W(name, shape) : null;
        double[] Norm(double[] row, string prefix)
        {
            if (!rms) return Ln(row, W(prefix + ".weight", C), Wopt(prefix + ".bias", C), eps);
            if (layout.Contains(prefix + ".bias")) throw new ArgumentException($"RMSNorm has no bias, but the layout has '{prefix}.bias'");
            return Rms(row, W(prefix + ".weight", C), eps);
        }
        bool dropout = x.DropoutMask is not null && cfg.Dropout > 0;
        void Drop(double[][] rows, string site, int b)
        {
            if (!dropout) return;
            for (int t = 0; t < T; t++)
                for (int c = 0; c < C; c++) rows[t][c] *= x.DropoutMask!(site, (b * T + t) * C + c);
        }

        // Document starts and positions.
        var start = new int[BT];
        var pos = new int[BT];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                int i = b * T + t;
                start[i] = t == 0 ? 0 : x.DocumentIds is not null && x.DocumentIds[i] != x.DocumentIds[i - 1] ? t : start[i - 1];
                pos[i] = x.PositionIds?[i] ?? t - start[i];
                if (pos[i] < 0 || pos[i] >= cfg.ContextLength) throw new ArgumentException($"position {pos[i]} at row {b}, column {t} is outside [0, {cfg.ContextLength})");
            }

        var wte = W("wte.weight", Vp, C);
        var wpe = cfg.Positions == PositionEncoding.Learned ? W("wpe.weight", cfg.ContextLength, C) : null;
        var head = cfg.TiedEmbeddings ? wte : W("lm_head.weight", Vp, C);
        var hidden = new double[BT * C];
        for (int b = 0; b < B; b++)
        {
            // Embeddings: token (or prefix) row plus the position row of the token's position id.
            var h = new double[T][];
            for (int t = 0; t < T; t++)
            {
                int i = b * T + t, tok = x.Inputs[i];
                if (prefixRow[i] < 0 && (tok < 0 || tok >= V)) throw new ArgumentException($"token {tok} at row {b}, column {t} is outside [0, {V})");
                h[t] = new double[C];
                for (int c = 0; c < C; c++)
                {
                    double pe = 0;
                    if (wpe is not null) pe = wpe[pos[i] * C + c];
                    else if (cfg.Positions == PositionEncoding.Sinusoidal)
                    {
                        int k = c - c % 2;
                        double angle = pos[i] / Math.Pow(10000.0, (double)k / C);
                        pe = c % 2 == 0 ? Math.Sin(angle) : Math.Cos(angle);
                    }
                    h[t][c] = (prefixRow[i] >= 0 ? x.Prefix![prefixRow[i] * C + c] : wte[tok * C + c]) + pe;
                }
            }
            Drop(h, "emb", b);

            for (int l = 0; l < cfg.Layers; l++)
            {
                string pf = $"h.{l}.";
                int qkvSize = (NH + 2 * NKV) * HS;
                var wAttn = W(pf + "attn.c_attn.weight", qkvSize, C); var bAttn = Wopt(pf + "attn.c_attn.bias", qkvSize);
                var wAp = W(pf + "attn.c_proj.weight", C, NH * HS); var bAp = Wopt(pf + "attn.c_proj.bias", C);
                int fcOut = swiglu ? 2 * F : F;
                var wFc = W(pf + "mlp.c_fc.weight", fcOut, C); var bFc = Wopt(pf + "mlp.c_fc.bias", fcOut);
                var wMp = W(pf + "mlp.c_proj.weight", C, F); var bMp = Wopt(pf + "mlp.c_proj.bias", C);

                double[][] Attn(double[][] input)
                {
                    var qkv = input.Select(r => Linear(r, wAttn, bAttn, qkvSize)).ToArray();
                    if (cfg.Positions == PositionEncoding.Rotary)
                        for (int t = 0; t < T; t++)
                            for (int hh = 0; hh < NH + NKV; hh++) // the NH query heads, then the NKV key heads
                                for (int k = 0; k < HS / 2; k++)
                                {
                                    int j = hh * HS + 2 * k;
                                    double ang = pos[b * T + t] * Math.Pow(cfg.RotaryBase, -2.0 * k / HS);
                                    double a0 = qkv[t][j], a1 = qkv[t][j + 1];
                                    qkv[t][j] = a0 * Math.Cos(ang) - a1 * Math.Sin(ang);
                                    qkv[t][j + 1] = a0 * Math.Sin(ang) + a1 * Math.Cos(ang);
                                }
                    var y = new double[T][];
                    for (int t = 0; t < T; t++)
                    {
                        y[t] = new double[NH * HS];
                        int t0 = start[b * T + t];
                        for (int hq = 0; hq < NH; hq++)
                        {
                            int kOff = (NH + hq / group) * HS, vOff = (NH + NKV + hq / group) * HS;
                            var s = new double[t + 1];
                            for (int t2 = t0; t2 <= t; t2++)
                            {
                                double d = 0;
                                for (int k = 0; k < HS; k++) d += qkv[t][hq * HS + k] * qkv[t2][kOff + k];
                                s[t2] = d / Math.Sqrt(HS);
                            }
                            double mx = double.NegativeInfinity, sum = 0;
                            for (int t2 = t0; t2 <= t; t2++) mx = Math.Max(mx, s[t2]);
                            for (int t2 = t0; t2 <= t; t2++) { s[t2] = Math.Exp(s[t2] - mx); sum += s[t2]; }
                            for (int t2 = t0; t2 <= t; t2++)
                                for (int k = 0; k < HS; k++) y[t][hq * HS + k] += s[t2] / sum * qkv[t2][vOff + k];
                        }
                    }
                    var o = y.Select(r => Linear(r, wAp, bAp, C)).ToArray();
                    Drop(o, pf + "attn", b);
                    return o;
                }

                double[][] Mlp(double[][] input)
                {
                    var o = input.Select(r =>
                    {
                        var u = Linear(r, wFc, bFc, fcOut);
                        var act = swiglu ? Enumerable.Range(0, F).Select(j => SiluD(u[j]) * u[F + j]).ToArray() : u.Select(GeluD).ToArray();
                        return Linear(act, wMp, bMp, C);
                    }).ToArray();
                    Drop(o, pf + "mlp", b);
                    return o;
                }

                if (pre)
                {
                    var r = Add(h, Attn(h.Select(z => Norm(z, pf + "ln_1")).ToArray()));
                    h = Add(r, Mlp(r.Select(z => Norm(z, pf + "ln_2")).ToArray()));
                }
                else
                {
                    var r = Add(h, Attn(h)).Select(z => Norm(z, pf + "ln_1")).ToArray();
                    h = Add(r, Mlp(r)).Select(z => Norm(z, pf + "ln_2")).ToArray();
                }
            }
            if (pre) h = h.Select(z => Norm(z, "ln_f")).ToArray();
            for (int t = 0; t < T; t++) Array.Copy(h[t], 0, hidden, (b * T + t) * C, C);
        }

        // Head over the real vocabulary, log-softmax, entropy, weighted loss.
        var logits = new double[BT * V];
        var logProbs = new double[BT];
        var entropy = new double[BT];
        double lossSum = 0, weightSum = 0;
        for (int i = 0; i < BT; i++)
        {
            var z = Linear(hidden.AsSpan(i * C, C).ToArray(), head, null, V);
            Array.Copy(z, 0, logits, i * V, V);
            double mx = z.Max(), se = 0;
            foreach (double v in z) se += Math.Exp(v - mx);
            double lse = mx + Math.Log(se), ent = 0;
            foreach (double v in z) ent -= Math.Exp(v - lse) * (v - lse);
            entropy[i] = ent;
            int target = x.Targets?[i] ?? -1;
            if (target < 0) continue;
            if (target >= V) throw new ArgumentException($"target {target} at {i} is outside [0, {V})");
            double w = x.Weights?[i] ?? 1;
            logProbs[i] = z[target] - lse;
            lossSum -= w * logProbs[i];
            weightSum += w;
        }
        return new ReferenceOutput { Hidden = hidden, Logits = logits, LogProbs = logProbs, Entropy = entropy, WeightedLossSum = lossSum, WeightSum = weightSum };
    }

    /// <summary>
    /// The first oracle (multi-head attention, GELU MLP, LayerNorm only), kept unchanged as a second, independent
    /// implementation that <see cref="Run"/> is checked against (ReferenceGptTests).
    /// </summary>
    public static double LegacyLoss(GptConfig cfg, TensorLayout layout, double[] p, int[] inputs, int[] targets, int B, int T)
    {
        if (cfg.KvHeadCount != cfg.Heads || cfg.Mlp != MlpKind.Gelu || cfg.NormKind != NormKind.LayerNorm)
            throw new NotSupportedException("LegacyLoss covers multi-head attention, GELU and LayerNorm only; use Run");
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
