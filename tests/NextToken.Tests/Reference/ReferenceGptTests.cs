// Sanity checks of the double-precision oracle itself: against its first implementation, against hand computation,
// and against identities every variant must satisfy (GQA with copied heads is MHA, packed documents are separate rows,
// rotary attention only sees relative positions, a prefix equal to token embeddings is those tokens, ...).
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Tests.Reference;

public sealed class ReferenceGptTests
{
    private static readonly GptConfig Gpt2 = new() { VocabSize = 13, ContextLength = 16, Layers = 2, Heads = 2, EmbeddingSize = 8 };
    private static readonly GptConfig Llama = Gpt2 with
    {
        Heads = 4, KvHeads = 2, Mlp = MlpKind.SwiGlu, MlpHiddenSize = 12, NormKind = NormKind.RmsNorm,
        Positions = PositionEncoding.Rotary, Bias = false, TiedEmbeddings = false,
    };

    // The parameter layout written out by hand from the naming the model will use (GptParameters does not declare
    // the new variants yet): c_attn rows are the NH query heads, then NKV key heads, then NKV value heads; c_fc is
    // (2F, C) for SwiGLU, gate rows first; RMSNorm has no bias.
    private static TensorLayout Layout(GptConfig cfg)
    {
        int C = cfg.EmbeddingSize, F = cfg.MlpSize, HS = cfg.HeadSize, NH = cfg.Heads, NKV = cfg.KvHeadCount;
        int fc = cfg.Mlp == MlpKind.SwiGlu ? 2 * F : F;
        bool normBias = cfg.Bias && cfg.NormKind == NormKind.LayerNorm;
        var l = new TensorLayout();
        l.Add("wte.weight", TensorKind.Embedding, cfg.PaddedVocabSize, C);
        if (cfg.Positions == PositionEncoding.Learned) l.Add("wpe.weight", TensorKind.Embedding, cfg.ContextLength, C);
        for (int i = 0; i < cfg.Layers; i++)
        {
            string p = $"h.{i}.";
            l.Add(p + "ln_1.weight", TensorKind.Gain, C);
            if (normBias) l.Add(p + "ln_1.bias", TensorKind.Bias, C);
            l.Add(p + "attn.c_attn.weight", TensorKind.Matrix, (NH + 2 * NKV) * HS, C);
            if (cfg.Bias) l.Add(p + "attn.c_attn.bias", TensorKind.Bias, (NH + 2 * NKV) * HS);
            l.Add(p + "attn.c_proj.weight", TensorKind.Matrix, C, NH * HS);
            if (cfg.Bias) l.Add(p + "attn.c_proj.bias", TensorKind.Bias, C);
            l.Add(p + "ln_2.weight", TensorKind.Gain, C);
            if (normBias) l.Add(p + "ln_2.bias", TensorKind.Bias, C);
            l.Add(p + "mlp.c_fc.weight", TensorKind.Matrix, fc, C);
            if (cfg.Bias) l.Add(p + "mlp.c_fc.bias", TensorKind.Bias, fc);
            l.Add(p + "mlp.c_proj.weight", TensorKind.Matrix, C, F);
            if (cfg.Bias) l.Add(p + "mlp.c_proj.bias", TensorKind.Bias, C);
        }
        if (cfg.FinalNorm)
        {
            l.Add("ln_f.weight", TensorKind.Gain, C);
            if (normBias) l.Add("ln_f.bias", TensorKind.Bias, C);
        }
        if (!cfg.TiedEmbeddings) l.Add("lm_head.weight", TensorKind.Matrix, cfg.PaddedVocabSize, C);
        return l;
    }

    // Large enough that every path carries signal: gains near 1, everything else N(0, 0.5²).
    private static double[] Params(TensorLayout layout, ulong seed)
    {
        var p = new double[layout.Size];
        var r = new Rng(seed);
        foreach (var s in layout.Slots)
            for (long i = 0; i < s.Length; i++) p[s.Offset + i] = (s.Kind == TensorKind.Gain ? 1 : 0) + 0.5 * r.NextGaussian();
        return p;
    }

    private static int[] Tokens(int n, int V, ulong seed)
    {
        var r = new Rng(seed);
        return Enumerable.Range(0, n).Select(_ => r.NextInt(V)).ToArray();
    }

    private static void Close(double[] want, double[] got, double tol, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= tol * Math.Max(1, Math.Abs(want[i])), $"{what}[{i}]: {got[i]}, expected {want[i]}");
    }

    private static double[] Slice(double[] a, int start, int length) => a.AsSpan(start, length).ToArray();

    private static double MaxDiff(double[] a, double[] b) => a.Zip(b).Max(z => Math.Abs(z.First - z.Second));

    public static TheoryData<string> ClassicConfigs() => new() { "gpt2", "gpt1", "sinusoidal", "rotary-untied-nobias" };

    private static GptConfig Classic(string name) => name switch
    {
        "gpt2" => Gpt2,
        "gpt1" => Gpt2 with { Norm = NormPlacement.Post, Positions = PositionEncoding.Sinusoidal, TiedEmbeddings = false },
        "sinusoidal" => Gpt2 with { Positions = PositionEncoding.Sinusoidal },
        "rotary-untied-nobias" => Gpt2 with { Positions = PositionEncoding.Rotary, TiedEmbeddings = false, Bias = false },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(ClassicConfigs))]
    public void Run_WeightsAllOne_EqualsLegacyLoss(string name)
    {
        var cfg = Classic(name);
        var layout = GptParameters.Layout(cfg);
        var p = Params(layout, 1);
        const int B = 2, T = 6;
        var inputs = Tokens(B * T, cfg.VocabSize, 2); var targets = Tokens(B * T, cfg.VocabSize, 3);
        targets[4] = -1;
        double legacy = ReferenceGpt.LegacyLoss(cfg, layout, p, inputs, targets, B, T);
        var o = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = inputs, Targets = targets, B = B, T = T, Weights = Enumerable.Repeat(1.0, B * T).ToArray() });
        Assert.Equal(B * T - 1, o.WeightSum);
        Assert.Equal(legacy, o.WeightedLossSum / o.WeightSum, 1e-12);
        Assert.Equal(legacy, ReferenceGpt.Loss(cfg, layout, p, inputs, targets, B, T), 1e-12);
        Assert.Equal(0, o.LogProbs[4]);
    }

    [Fact]
    public void Run_Weights_ScaleAndExcludePositions()
    {
        var layout = Layout(Llama);
        var p = Params(layout, 4);
        const int B = 2, T = 5;
        var inputs = Tokens(B * T, Llama.VocabSize, 5); var targets = Tokens(B * T, Llama.VocabSize, 6);
        var plain = ReferenceGpt.Run(Llama, layout, p, new ReferenceInput { Inputs = inputs, Targets = targets, B = B, T = T });
        var w = Enumerable.Range(0, B * T).Select(i => i == 7 ? 0.0 : 0.5 + i).ToArray();
        var weighted = ReferenceGpt.Run(Llama, layout, p, new ReferenceInput { Inputs = inputs, Targets = targets, B = B, T = T, Weights = w });
        Assert.Equal(w.Sum(), weighted.WeightSum, 1e-12);
        Assert.Equal(-Enumerable.Range(0, B * T).Sum(i => w[i] * plain.LogProbs[i]), weighted.WeightedLossSum, 1e-10);
        Assert.Equal(-plain.LogProbs.Sum(), plain.WeightedLossSum, 1e-10);
        Assert.Equal(B * T, plain.WeightSum);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public void Run_GroupedQueryHeads_EqualMultiHeadWithCopiedKeyValueHeads(int kvHeads)
    {
        // Query head h reads key/value head h / (NH / NKV): copying each key/value head to the query heads of its
        // group gives a multi-head model with the same output.
        foreach (var baseCfg in new[] { Llama, Gpt2 with { Heads = 4 } })
        {
            var gqa = baseCfg with { KvHeads = kvHeads };
            var mha = baseCfg with { KvHeads = 0 };
            var lg = Layout(gqa); var lm = Layout(mha);
            var pg = Params(lg, 7);
            var pm = new double[lm.Size]; var pw = new double[lm.Size];
            int NH = gqa.Heads, HS = gqa.HeadSize, C = gqa.EmbeddingSize, group = NH / kvHeads;
            foreach (var s in lm.Slots)
            {
                var g = lg[s.Name];
                if (!s.Name.EndsWith("attn.c_attn.weight") && !s.Name.EndsWith("attn.c_attn.bias"))
                {
                    Array.Copy(pg, g.Offset, pm, s.Offset, s.Length);
                    Array.Copy(pg, g.Offset, pw, s.Offset, s.Length);
                    continue;
                }
                int width = s.Name.EndsWith(".weight") ? C : 1;
                // MHA row r of head hm in part (q = 0, k = 1, v = 2) comes from GQA head hm (q) or hm / group (k, v).
                for (int part = 0; part < 3; part++)
                    for (int hm = 0; hm < NH; hm++)
                    {
                        int srcHead = part == 0 ? hm : NH + (part - 1) * kvHeads + hm / group;
                        Array.Copy(pg, g.Offset + (long)srcHead * HS * width, pm, s.Offset + (long)(part * NH + hm) * HS * width, HS * width);
                        // The interleaved grouping (h mod NKV) that the test must tell apart.
                        int wrongHead = part == 0 ? hm : NH + (part - 1) * kvHeads + hm % kvHeads;
                        Array.Copy(pg, g.Offset + (long)wrongHead * HS * width, pw, s.Offset + (long)(part * NH + hm) * HS * width, HS * width);
                    }
            }
            const int B = 2, T = 7;
            var input = new ReferenceInput { Inputs = Tokens(B * T, gqa.VocabSize, 8), Targets = Tokens(B * T, gqa.VocabSize, 9), B = B, T = T };
            var a = ReferenceGpt.Run(gqa, lg, pg, input);
            var b = ReferenceGpt.Run(mha, lm, pm, input);
            Close(b.Logits, a.Logits, 1e-12, $"logits (NKV = {kvHeads}, {baseCfg.Mlp})");
            if (kvHeads > 1)
            {
                var wrong = ReferenceGpt.Run(mha, lm, pw, input);
                Assert.True(MaxDiff(a.Logits, wrong.Logits) > 1e-6, "interleaved grouping gave the same logits");
            }
        }
    }

    [Fact]
    public void Run_OneLayerTwoTokens_MatchesHandComputation()
    {
        // C = 2, one head, RMSNorm with unit gains, q = k = v = identity, c_proj = identity, MLP off (c_proj 0),
        // tied head, no positions. Tokens (1, 1) and (3, −1).
        var cfg = new GptConfig
        {
            VocabSize = 2, ContextLength = 4, Layers = 1, Heads = 1, EmbeddingSize = 2, Bias = false, NormKind = NormKind.RmsNorm,
            Positions = PositionEncoding.Sinusoidal, LayerNormEpsilon = 1e-3f,
        };
        var layout = Layout(cfg);
        var p = new double[layout.Size];
        void Set(string name, params double[] v) => Array.Copy(v, 0, p, layout[name].Offset, v.Length);
        Set("wte.weight", 1, 1, 3, -1);
        Set("h.0.ln_1.weight", 1, 1); Set("h.0.ln_2.weight", 1, 1); Set("ln_f.weight", 1, 1);
        Set("h.0.attn.c_attn.weight", 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1);
        Set("h.0.attn.c_proj.weight", 1, 0, 0, 1);
        // Sinusoidal positions for C = 2 are (sin t, cos t), added to the token rows below.
        var o = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = [0, 1], Targets = [1, 0], B = 1, T = 2 });

        double eps = cfg.LayerNormEpsilon;
        double[] x0 = [1 + Math.Sin(0), 1 + Math.Cos(0)], x1 = [3 + Math.Sin(1), -1 + Math.Cos(1)];
        double[] N(double[] v) { double r = 1 / Math.Sqrt((v[0] * v[0] + v[1] * v[1]) / 2 + eps); return [v[0] * r, v[1] * r]; }
        var n0 = N(x0); var n1 = N(x1);
        // Position 0 attends to itself only; position 1 to both with weights softmax(n1·n0/√2, n1·n1/√2).
        double s0 = (n1[0] * n0[0] + n1[1] * n0[1]) / Math.Sqrt(2), s1 = (n1[0] * n1[0] + n1[1] * n1[1]) / Math.Sqrt(2);
        double a0 = Math.Exp(s0) / (Math.Exp(s0) + Math.Exp(s1)), a1 = 1 - a0;
        var h0 = N([x0[0] + n0[0], x0[1] + n0[1]]);
        var h1 = N([x1[0] + a0 * n0[0] + a1 * n1[0], x1[1] + a0 * n0[1] + a1 * n1[1]]);
        Close([.. h0, .. h1], o.Hidden, 1e-12, "hidden");
        double[] logits = [h0[0] + h0[1], 3 * h0[0] - h0[1], h1[0] + h1[1], 3 * h1[0] - h1[1]];
        Close(logits, o.Logits, 1e-12, "logits");
        double lp0 = logits[1] - Math.Log(Math.Exp(logits[0]) + Math.Exp(logits[1]));
        double lp1 = logits[2] - Math.Log(Math.Exp(logits[2]) + Math.Exp(logits[3]));
        Close([lp0, lp1], o.LogProbs, 1e-12, "log-probs");
        Assert.Equal(-(lp0 + lp1), o.WeightedLossSum, 1e-12);
    }

    [Fact]
    public void Run_OnePositionSwiGlu_MatchesHandComputation()
    {
        // One token, one layer, no bias: attention is off (c_proj 0); the MLP has F = 1 with the gate row first:
        // m = w_p · SiLU(w_g·n) · (w_u·n), n = RMSNorm(x). Head untied, learned positions.
        var cfg = new GptConfig
        {
            VocabSize = 3, ContextLength = 2, Layers = 1, Heads = 1, EmbeddingSize = 2, Bias = false, NormKind = NormKind.RmsNorm,
            Mlp = MlpKind.SwiGlu, MlpHiddenSize = 1, TiedEmbeddings = false,
        };
        var layout = Layout(cfg);
        var p = new double[layout.Size];
        void Set(string name, params double[] v) => Array.Copy(v, 0, p, layout[name].Offset, v.Length);
        Set("wte.weight", 0, 0, 0.5, 2, 0, 0);
        Set("wpe.weight", 0.25, -0.5, 9, 9);
        Set("h.0.ln_1.weight", 1, 1); Set("h.0.ln_2.weight", 2, 0.5); Set("ln_f.weight", 1, 3);
        Set("h.0.mlp.c_fc.weight", 1, -1, 0.5, 2); // gate row (1, −1), up row (0.5, 2)
        Set("h.0.mlp.c_proj.weight", 1.5, -2);
        Set("lm_head.weight", 1, 0, 0, 1, 1, 1);
        var o = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = [1], Targets = [2], B = 1, T = 1 });

        double eps = cfg.LayerNormEpsilon;
        double[] x = [0.5 + 0.25, 2 - 0.5];
        double r = 1 / Math.Sqrt((x[0] * x[0] + x[1] * x[1]) / 2 + eps);
        double[] n = [2 * x[0] * r, 0.5 * x[1] * r];
        double gate = n[0] - n[1], up = 0.5 * n[0] + 2 * n[1];
        double act = gate / (1 + Math.Exp(-gate)) * up;
        double[] y = [x[0] + 1.5 * act, x[1] - 2 * act];
        double ry = 1 / Math.Sqrt((y[0] * y[0] + y[1] * y[1]) / 2 + eps);
        double[] h = [y[0] * ry, 3 * y[1] * ry];
        Close(h, o.Hidden, 1e-12, "hidden");
        Close([h[0], h[1], h[0] + h[1]], o.Logits, 1e-12, "logits");
    }

    [Fact]
    public void Rms_ConstantVector_IsSignTimesGainUpToEps()
    {
        foreach (double a in new[] { 3.0, -0.25, 0.0 })
        {
            var g = new[] { 1.0, -2.0, 0.5, 4.0, 1.5 };
            var y = ReferenceGpt.Rms(Enumerable.Repeat(a, g.Length).ToArray(), g, 1e-5);
            for (int i = 0; i < g.Length; i++) Assert.Equal(a / Math.Sqrt(a * a + 1e-5) * g[i], y[i], 1e-14);
        }
    }

    public static TheoryData<string> PackingConfigs() => new() { "gpt2", "gpt1", "llama" };

    private static GptConfig Packing(string name) => name == "llama" ? Llama : Classic(name);

    [Theory]
    [MemberData(nameof(PackingConfigs))]
    public void Run_PackedDocuments_EachDocumentGetsItsOwnLogits(string name)
    {
        var cfg = Packing(name);
        var layout = Layout(cfg);
        var p = Params(layout, 10);
        int V = cfg.VocabSize, C = cfg.EmbeddingSize;
        int[] docA = Tokens(4, V, 11), docB = Tokens(3, V, 12), targets = Tokens(7, V, 13);
        var packed = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput
        {
            Inputs = [.. docA, .. docB], Targets = targets, B = 1, T = 7, DocumentIds = [5, 5, 5, 5, 2, 2, 2],
        });
        var a = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = docA, Targets = targets[..4], B = 1, T = 4 });
        var b = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = docB, Targets = targets[4..], B = 1, T = 3 });
        Close([.. a.Logits, .. b.Logits], packed.Logits, 1e-12, $"{name} logits");
        Close([.. a.Hidden, .. b.Hidden], packed.Hidden, 1e-12, $"{name} hidden");
        Close([.. a.LogProbs, .. b.LogProbs], packed.LogProbs, 1e-12, $"{name} log-probs");
        Assert.Equal(a.WeightedLossSum + b.WeightedLossSum, packed.WeightedLossSum, 1e-12);
        // Without the document ids the second document sees the first (and, for learned and sinusoidal positions, sits elsewhere).
        var unpacked = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = [.. docA, .. docB], B = 1, T = 7 });
        Close(Slice(unpacked.Logits, 0, 4 * V), Slice(packed.Logits, 0, 4 * V), 1e-12, "first document");
        Assert.True(MaxDiff(Slice(unpacked.Logits, 4 * V, 3 * V), Slice(packed.Logits, 4 * V, 3 * V)) > 1e-6, "the document ids were ignored");
        // An id that returns to an earlier value still starts a new document: A B A is three documents.
        var aba = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = [.. docA[..2], .. docB[..2], docA[0]], B = 1, T = 5, DocumentIds = [1, 1, 2, 2, 1] });
        var single = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = [docA[0]], B = 1, T = 1 });
        Close(single.Hidden, Slice(aba.Hidden, 4 * C, C), 1e-12, "third document");
    }

    [Theory]
    [MemberData(nameof(PackingConfigs))]
    public void Run_ExplicitPositionIds_EqualTheDefaults(string name)
    {
        var cfg = Packing(name);
        var layout = Layout(cfg);
        var p = Params(layout, 14);
        const int B = 2, T = 6;
        var tokens = Tokens(B * T, cfg.VocabSize, 15);
        int[] docs = [0, 0, 1, 1, 1, 2, 7, 7, 7, 7, 8, 8];
        var implicitPos = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = tokens, B = B, T = T, DocumentIds = docs });
        var explicitPos = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput
        {
            Inputs = tokens, B = B, T = T, DocumentIds = docs, PositionIds = [0, 1, 0, 1, 2, 0, 0, 1, 2, 3, 0, 1],
        });
        Close(implicitPos.Logits, explicitPos.Logits, 0, "logits");
        var plain = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = tokens, B = B, T = T });
        var counted = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = tokens, B = B, T = T, PositionIds = Enumerable.Range(0, B * T).Select(i => i % T).ToArray() });
        Close(plain.Logits, counted.Logits, 0, "logits");
    }

    [Theory]
    [InlineData(PositionEncoding.Rotary, true)]
    [InlineData(PositionEncoding.Learned, false)]
    [InlineData(PositionEncoding.Sinusoidal, false)]
    public void Run_ShiftedPositionIds_ChangeLogitsUnlessRotary(PositionEncoding positions, bool invariant)
    {
        // Rotary scores depend on positions only through their differences (RoFormer eq. 16), for query and key heads alike.
        foreach (var baseCfg in new[] { Llama, Gpt2 })
        {
            var cfg = baseCfg with { Positions = positions };
            var layout = Layout(cfg);
            var p = Params(layout, 16);
            const int T = 5;
            var tokens = Tokens(T, cfg.VocabSize, 17);
            var at0 = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = tokens, B = 1, T = T });
            var at7 = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = tokens, B = 1, T = T, PositionIds = [7, 8, 9, 10, 11] });
            if (invariant) Close(at0.Logits, at7.Logits, 1e-10, "shifted logits");
            else Assert.True(MaxDiff(at0.Logits, at7.Logits) > 1e-6, "positions were ignored");
        }
    }

    [Theory]
    [MemberData(nameof(PackingConfigs))]
    public void Run_PrefixEqualToTokenEmbeddings_EqualsTheTokens(string name)
    {
        var cfg = Packing(name);
        var layout = Layout(cfg);
        var p = Params(layout, 18);
        const int B = 2, T = 5, P = 2;
        int C = cfg.EmbeddingSize;
        var tokens = Tokens(B * T, cfg.VocabSize, 19);
        var wte = layout["wte.weight"];
        var prefix = new double[B * P * C];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < P; t++) Array.Copy(p, wte.Offset + tokens[b * T + t] * C, prefix, (b * P + t) * C, C);
        var masked = (int[])tokens.Clone();
        for (int b = 0; b < B; b++) for (int t = 0; t < P; t++) masked[b * T + t] = -1; // ignored under the prefix
        var plain = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = tokens, B = B, T = T });
        var withPrefix = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = masked, B = B, T = T, Prefix = prefix, PrefixLength = P });
        Close(plain.Logits, withPrefix.Logits, 1e-12, "logits");
        prefix[3] += 1;
        var moved = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = masked, B = B, T = T, Prefix = prefix, PrefixLength = P });
        Assert.True(Math.Abs(moved.Logits[0] - plain.Logits[0]) > 1e-6, "the prefix was ignored");
    }

    [Fact]
    public void Run_DropoutMask_VisitsEverySiteAndZeroBranchesEqualZeroProjections()
    {
        foreach (var baseCfg in new[] { Llama, Gpt2, Classic("gpt1") })
        {
            var cfg = baseCfg with { Dropout = 0.1f };
            var layout = Layout(cfg);
            var p = Params(layout, 20);
            const int B = 2, T = 4;
            int C = cfg.EmbeddingSize;
            var input = Tokens(B * T, cfg.VocabSize, 21);
            var plain = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = input, B = B, T = T });
            // All-ones mask: no change, and every site sees every index once.
            var seen = new Dictionary<string, HashSet<int>>();
            var ones = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput
            {
                Inputs = input, B = B, T = T,
                DropoutMask = (site, i) => { Assert.True((seen.TryGetValue(site, out var s) ? s : seen[site] = []).Add(i), $"{site}[{i}] twice"); return 1; },
            });
            Close(plain.Logits, ones.Logits, 0, "logits under an all-ones mask");
            Assert.Equal(new[] { "emb", "h.0.attn", "h.0.mlp", "h.1.attn", "h.1.mlp" }, seen.Keys.Order());
            Assert.All(seen.Values, s => Assert.Equal(Enumerable.Range(0, B * T * C), s.Order()));
            // Dropping every branch element is a model whose branch projections (weights and biases) are zero.
            var zeroed = (double[])p.Clone();
            foreach (var s in layout.Slots.Where(s => s.Name.Contains("c_proj")))
                Array.Clear(zeroed, (int)s.Offset, (int)s.Length);
            var dropped = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = input, B = B, T = T, DropoutMask = (site, _) => site == "emb" ? 1 : 0 });
            var noBranches = ReferenceGpt.Run(cfg, layout, zeroed, new ReferenceInput { Inputs = input, B = B, T = T });
            Close(noBranches.Logits, dropped.Logits, 1e-12, "logits");
            // And the mask is ignored when the config's dropout is 0.
            var off = ReferenceGpt.Run(cfg with { Dropout = 0 }, layout, p, new ReferenceInput { Inputs = input, B = B, T = T, DropoutMask = (_, _) => 0 });
            Close(plain.Logits, off.Logits, 0, "logits with dropout 0");
        }
    }

    [Theory]
    [MemberData(nameof(PackingConfigs))]
    public void Run_LogProbsAndEntropy_FollowFromLogits(string name)
    {
        var cfg = Packing(name);
        var layout = Layout(cfg);
        var p = Params(layout, 22);
        const int B = 2, T = 4;
        int V = cfg.VocabSize;
        var targets = Tokens(B * T, V, 24);
        targets[1] = -1;
        var o = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = Tokens(B * T, V, 23), Targets = targets, B = B, T = T });
        for (int i = 0; i < B * T; i++)
        {
            var z = Slice(o.Logits, i * V, V);
            double lse = Math.Log(z.Sum(Math.Exp));
            double ent = -z.Sum(v => Math.Exp(v - lse) * (v - lse));
            Assert.Equal(ent, o.Entropy[i], 1e-12);
            Assert.InRange(o.Entropy[i], 0, Math.Log(V) + 1e-12);
            Assert.Equal(targets[i] < 0 ? 0 : z[targets[i]] - lse, o.LogProbs[i], 1e-12);
        }
    }

    [Fact]
    public void Run_PostLn_HiddenIsTheLastBlocksNormalisedOutput()
    {
        // GPT-1 has no final norm: with the last ln_2 at gain 1, bias 0 each hidden row has mean 0 and variance 1/(1 + eps/var).
        var cfg = Classic("gpt1");
        var layout = Layout(cfg);
        Assert.False(layout.Contains("ln_f.weight"));
        var p = Params(layout, 25);
        Array.Fill(p, 1.0, (int)layout["h.1.ln_2.weight"].Offset, cfg.EmbeddingSize);
        Array.Clear(p, (int)layout["h.1.ln_2.bias"].Offset, cfg.EmbeddingSize);
        var o = ReferenceGpt.Run(cfg, layout, p, new ReferenceInput { Inputs = Tokens(6, cfg.VocabSize, 26), B = 1, T = 6 });
        int C = cfg.EmbeddingSize;
        for (int t = 0; t < 6; t++)
        {
            var h = Slice(o.Hidden, t * C, C);
            Assert.Equal(0, h.Average(), 1e-12);
            Assert.InRange(h.Select(v => v * v).Average(), 0.99, 1 + 1e-12);
        }
    }

    [Fact]
    public void Run_LayoutWithWrongShape_Throws()
    {
        // A multi-head layout read as grouped-query must fail loudly, not read the wrong rows.
        var layout = Layout(Llama with { KvHeads = 0 });
        var e = Assert.Throws<ArgumentException>(() => ReferenceGpt.Run(Llama, layout, new double[layout.Size], new ReferenceInput { Inputs = [1], B = 1, T = 1 }));
        Assert.Contains("c_attn", e.Message);
    }
}
