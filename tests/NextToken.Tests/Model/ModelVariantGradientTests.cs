// Whole-model finite-difference checks of every building block and hook: analytic float gradients against central
// differences of the double-precision oracle (ReferenceGpt.Run), for GPT-2, GPT-1 (post-LN) and SmolLM2-style models,
// with document masks, position ids, embedding prefixes, weighted losses, the two-phase backward and dropout.
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tests.Reference;

namespace NextToken.Tests.Model;

public sealed class ModelVariantGradientTests
{
    private static readonly GptConfig Tiny = new() { VocabSize = 11, ContextLength = 12, Layers = 2, Heads = 4, EmbeddingSize = 8 };
    private static readonly GptConfig SmolLike = Tiny with
    {
        KvHeads = 2, Mlp = MlpKind.SwiGlu, MlpHiddenSize = 12, NormKind = NormKind.RmsNorm, Positions = PositionEncoding.Rotary, Bias = false, RotaryBase = 100f,
    };

    public static TheoryData<string, GptConfig> Families() => new()
    {
        { "gpt2", Tiny },
        { "gpt1 post-ln", Tiny with { Norm = NormPlacement.Post } },
        { "smollm2-style (gqa, rmsnorm, swiglu, rope)", SmolLike },
        { "mqa post-ln rmsnorm learned", Tiny with { KvHeads = 1, Norm = NormPlacement.Post, NormKind = NormKind.RmsNorm } },
        { "gqa swiglu sinusoidal untied", Tiny with { KvHeads = 2, Mlp = MlpKind.SwiGlu, Positions = PositionEncoding.Sinusoidal, TiedEmbeddings = false } },
    };

    private static GptModel Perturbed(GptConfig cfg, ulong seed)
    {
        var model = new GptModel(cfg, seed: 3);
        // Larger than the 0.02 init so every path carries signal the differences can see.
        var rng = new Rng(seed);
        foreach (var s in model.Layout.Slots)
        {
            var p = model.Parameter(s.Name)[..(int)GptParameters.RealLength(cfg, s)];
            for (int i = 0; i < p.Length; i++) p[i] += (float)(0.3 * rng.NextGaussian());
        }
        return model;
    }

    private static int[] Tokens(int n, ulong seed, int vocab)
    {
        var r = new Rng(seed);
        return Enumerable.Range(0, n).Select(_ => r.NextInt(vocab)).ToArray();
    }

    // Central differences of the oracle's objective for a few entries of every trainable tensor.
    private static void CheckParameters(string name, GptModel model, Func<double[], double> objective)
    {
        double[] p = model.Parameters.Select(f => (double)f).ToArray();
        int checkedCount = 0;
        foreach (var slot in model.GradientLayout.Slots)
        {
            var ps = model.Layout[slot.Name];
            long n = GptParameters.RealLength(model.Config, ps);
            int step = (int)Math.Max(1, n / 5);
            for (long i = 0; i < n; i += step)
            {
                long idx = ps.Offset + i;
                double orig = p[idx], h = 1e-5;
                p[idx] = orig + h; double lp = objective(p);
                p[idx] = orig - h; double lm = objective(p);
                p[idx] = orig;
                double fd = (lp - lm) / (2 * h), g = model.Gradients![slot.Offset + i];
                Assert.True(Math.Abs(g - fd) <= 1e-3 + 1e-2 * Math.Abs(fd), $"{name}: d/d {slot.Name}[{i}] = {g}, finite differences {fd}");
                checkedCount++;
            }
        }
        Assert.True(checkedCount > 40, $"{name}: only {checkedCount} entries checked");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void WeightedLoss_WithDocumentsAndPositionIds_MatchesFiniteDifferences(string name, GptConfig cfg)
    {
        const int B = 2, T = 7;
        var model = Perturbed(cfg, 9);
        var inputs = Tokens(B * T, 1, cfg.VocabSize);
        var targets = Tokens(B * T, 2, cfg.VocabSize);
        targets[3] = CrossEntropy.IgnoreIndex;
        int[] docs = [0, 0, 0, 1, 1, 1, 1, 5, 5, 6, 6, 6, 6, 6];
        int[] positions = [0, 1, 2, 0, 1, 2, 3, 2, 3, 0, 4, 5, 9, 11]; // explicit and not monotone
        float[] weights = [1, 0.5f, 2, 1, 0, 1.5f, 1, 0.25f, 1, 3, 1, 1, 0.75f, 1];
        var layout = new BatchLayout { DocumentIds = docs, PositionIds = positions };
        model.EnableGradients();
        float loss = model.Forward(inputs, targets, B, T, computeGradients: true, weights: weights, extras: layout);
        model.Backward();
        ReferenceInput Input() => new()
        {
            Inputs = inputs, B = B, T = T, Targets = targets, Weights = weights.Select(w => (double)w).ToArray(), DocumentIds = docs, PositionIds = positions,
        };
        double Objective(double[] p) { var r = ReferenceGpt.Run(cfg, model.Layout, p, Input()); return r.WeightedLossSum / r.WeightSum; }
        double reference = Objective(model.Parameters.Select(f => (double)f).ToArray());
        Assert.True(Math.Abs(loss - reference) < 1e-4 * Math.Max(1, reference), $"{name}: loss {loss} vs reference {reference}");
        CheckParameters(name, model, Objective);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void TwoPhaseBackward_LogProbsEntropyAndHidden_MatchesFiniteDifferences(string name, GptConfig cfg)
    {
        // An objective computed outside the model: L = Σ a_i log p_i + Σ c_i H_i + Σ b·hidden (policy gradient with an
        // entropy bonus, plus a linear head on the hidden states).
        const int B = 2, T = 5;
        int N = B * T, C = cfg.EmbeddingSize;
        var model = Perturbed(cfg, 10);
        var inputs = Tokens(N, 3, cfg.VocabSize);
        var targets = Tokens(N, 4, cfg.VocabSize);
        targets[6] = CrossEntropy.IgnoreIndex;
        var rng = new Rng(77);
        var a = Enumerable.Range(0, N).Select(_ => (float)rng.NextGaussian()).ToArray();
        var c = Enumerable.Range(0, N).Select(_ => (float)(0.3 * rng.NextGaussian())).ToArray();
        var b = Enumerable.Range(0, N * C).Select(_ => (float)(0.5 * rng.NextGaussian())).ToArray();
        var logp = new float[N]; var ent = new float[N];
        model.ForwardLogProbs(inputs, targets, B, T, logp, ent);
        model.Backward(a, b, c);
        double Objective(double[] p)
        {
            var r = ReferenceGpt.Run(cfg, model.Layout, p, new ReferenceInput { Inputs = inputs, B = B, T = T, Targets = targets });
            double s = 0;
            for (int i = 0; i < N; i++) s += a[i] * r.LogProbs[i] + c[i] * r.Entropy[i];
            for (int i = 0; i < N * C; i++) s += b[i] * r.Hidden[i];
            return s;
        }
        var refOut = ReferenceGpt.Run(cfg, model.Layout, model.Parameters.Select(f => (double)f).ToArray(), new ReferenceInput { Inputs = inputs, B = B, T = T, Targets = targets });
        for (int i = 0; i < N; i++)
        {
            Assert.Equal(refOut.LogProbs[i], logp[i], 4);
            Assert.Equal(refOut.Entropy[i], ent[i], 4);
        }
        CheckParameters(name, model, Objective);
    }

    // dL/d(prefix) against central differences of the double-precision objective, at every `every`-th value.
    private static void CheckPrefix(string name, float[] dPrefix, double[] pref, Func<double> objective, int every)
    {
        for (int i = 0; i < pref.Length; i += every)
        {
            double orig = pref[i], h = 1e-5;
            pref[i] = orig + h; double lp = objective();
            pref[i] = orig - h; double lm = objective();
            pref[i] = orig;
            double fd = (lp - lm) / (2 * h);
            Assert.True(Math.Abs(dPrefix[i] - fd) <= 1e-3 + 1e-2 * Math.Abs(fd), $"{name}: d/d prefix[{i}] = {dPrefix[i]}, finite differences {fd}");
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void EmbeddingPrefix_GradientMatchesFiniteDifferences(string name, GptConfig cfg)
    {
        const int B = 2, T = 6, P = 2;
        int C = cfg.EmbeddingSize;
        var model = Perturbed(cfg, 11);
        var inputs = Tokens(B * T, 5, cfg.VocabSize);
        var targets = Tokens(B * T, 6, cfg.VocabSize);
        var rng = new Rng(8);
        var prefix = Enumerable.Range(0, B * P * C).Select(_ => (float)rng.NextGaussian()).ToArray();
        model.EnableGradients();
        model.Forward(inputs, targets, B, T, computeGradients: true, extras: new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P });
        model.Backward();
        var dPrefix = model.PrefixGradient.ToArray();
        double[] pref = prefix.Select(v => (double)v).ToArray();
        double[] p = model.Parameters.Select(f => (double)f).ToArray();
        double Objective()
        {
            var r = ReferenceGpt.Run(cfg, model.Layout, p, new ReferenceInput { Inputs = inputs, B = B, T = T, Targets = targets, Prefix = pref, PrefixLength = P });
            return r.WeightedLossSum / r.WeightSum;
        }
        CheckPrefix(name, dPrefix, pref, Objective, every: 1);
        CheckParameters(name, model, q => { var r = ReferenceGpt.Run(cfg, model.Layout, q, new ReferenceInput { Inputs = inputs, B = B, T = T, Targets = targets, Prefix = pref, PrefixLength = P }); return r.WeightedLossSum / r.WeightSum; });
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void EmbeddingSpans_InsidePackedDocuments_GradientMatchesFiniteDifferences(string name, GptConfig cfg)
    {
        // Two documents per row, each "tokens, an embedding span of P, tokens" (a question, its image, the answer): the
        // spans sit at offsets other than 0 and positions restart in each document.
        const int B = 2, T = 10, P = 2;
        int C = cfg.EmbeddingSize;
        int[] starts = [1, 6, 2, 7];
        int[] docs = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
        var model = Perturbed(cfg, 13);
        var inputs = Tokens(B * T, 15, cfg.VocabSize);
        var targets = Tokens(B * T, 16, cfg.VocabSize);
        var rng = new Rng(18);
        var prefix = Enumerable.Range(0, B * 2 * P * C).Select(_ => (float)rng.NextGaussian()).ToArray();
        model.EnableGradients();
        model.Forward(inputs, targets, B, T, computeGradients: true, extras: new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P, PrefixStarts = starts, DocumentIds = docs });
        model.Backward();
        var dPrefix = model.PrefixGradient.ToArray();
        Assert.Equal(prefix.Length, dPrefix.Length);
        double[] pref = prefix.Select(v => (double)v).ToArray();
        ReferenceInput Input() => new() { Inputs = inputs, B = B, T = T, Targets = targets, Prefix = pref, PrefixLength = P, PrefixStarts = starts, DocumentIds = docs };
        double[] p = model.Parameters.Select(f => (double)f).ToArray();
        double Objective() { var r = ReferenceGpt.Run(cfg, model.Layout, p, Input()); return r.WeightedLossSum / r.WeightSum; }
        CheckPrefix(name, dPrefix, pref, Objective, every: 3);
        // Spans that overlap, or run past the row, are refused with the span and row named.
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(inputs, targets, B, T, extras: new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P, PrefixStarts = [1, 2, 2, 7] }));
        Assert.Contains("prefix span 1 of row 0 starts at 2", bad.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(inputs, targets, B, T, extras: new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P, PrefixStarts = [1, 9, 2, 7] }));
        CheckParameters(name, model, q => { var r = ReferenceGpt.Run(cfg, model.Layout, q, Input()); return r.WeightedLossSum / r.WeightSum; });
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void EmbeddingSpans_UnusedSpanAtTheEndOfARow_IsIgnoredAndGetsZeroGradient(string name, GptConfig cfg)
    {
        // Rows packed with different numbers of images share one K: row 0 has two spans, row 1 one and an unused one
        // (start −1), whose embeddings are never read (any values give the same loss) and whose gradient is zero.
        const int B = 2, T = 10, P = 2;
        int C = cfg.EmbeddingSize;
        int[] starts = [1, 6, 2, -1];
        int[] docs = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
        var model = Perturbed(cfg, 14);
        var inputs = Tokens(B * T, 19, cfg.VocabSize);
        var targets = Tokens(B * T, 20, cfg.VocabSize);
        var rng = new Rng(21);
        var prefix = Enumerable.Range(0, B * 2 * P * C).Select(_ => (float)rng.NextGaussian()).ToArray();
        model.EnableGradients();
        var layout = new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P, PrefixStarts = starts, DocumentIds = docs };
        float loss = model.Forward(inputs, targets, B, T, computeGradients: true, extras: layout);
        model.Backward();
        var dPrefix = model.PrefixGradient.ToArray();
        Assert.All(dPrefix.AsSpan(3 * P * C, P * C).ToArray(), g => Assert.Equal(0f, g));
        double[] pref = prefix.Select(v => (double)v).ToArray();
        ReferenceInput Input() => new() { Inputs = inputs, B = B, T = T, Targets = targets, Prefix = pref, PrefixLength = P, PrefixStarts = starts, DocumentIds = docs };
        double[] p = model.Parameters.Select(f => (double)f).ToArray();
        double Objective() { var r = ReferenceGpt.Run(cfg, model.Layout, p, Input()); return r.WeightedLossSum / r.WeightSum; }
        CheckPrefix(name, dPrefix, pref, Objective, every: 3);
        // The unused span's values change nothing, and the token ids at its would-be positions are read.
        var other = (float[])prefix.Clone();
        other.AsSpan(3 * P * C, P * C).Fill(7f);
        Assert.Equal(loss, model.Forward(inputs, targets, B, T, extras: layout with { PrefixEmbeddings = other }));
        // A used span after an unused one is refused, naming the span and the row.
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(inputs, targets, B, T, extras: new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P, PrefixStarts = [-1, 6, 2, -1], DocumentIds = docs }));
        Assert.Contains("prefix span 1 of row 0 starts at 6 after an unused span", bad.Message);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Dropout_InsideTheModel_MatchesFiniteDifferencesWithTheSameMasks(string name, GptConfig cfg)
    {
        cfg = cfg with { Dropout = 0.3f };
        const int B = 2, T = 5;
        int N = B * T, C = cfg.EmbeddingSize;
        var model = Perturbed(cfg, 12);
        var inputs = Tokens(N, 7, cfg.VocabSize);
        var targets = Tokens(N, 8, cfg.VocabSize);
        model.Training = true;
        model.EnableGradients();
        float loss = model.Forward(inputs, targets, B, T, computeGradients: true);
        var masks = new Dictionary<string, float[]> { ["emb"] = model.Activation("emb_mask").ToArray() };
        for (int l = 0; l < cfg.Layers; l++)
        {
            masks[$"h.{l}.attn"] = model.Activation($"h.{l}.att_mask").ToArray();
            masks[$"h.{l}.mlp"] = model.Activation($"h.{l}.mlp_mask").ToArray();
        }
        Assert.Contains(0f, masks["emb"]);
        Assert.Contains(1f / 0.7f, masks["emb"]);
        model.Backward();
        double Objective(double[] p)
        {
            var r = ReferenceGpt.Run(cfg, model.Layout, p, new ReferenceInput { Inputs = inputs, B = B, T = T, Targets = targets, DropoutMask = (site, i) => masks[site][i] });
            return r.WeightedLossSum / r.WeightSum;
        }
        double reference = Objective(model.Parameters.Select(f => (double)f).ToArray());
        Assert.True(Math.Abs(loss - reference) < 1e-4 * Math.Max(1, reference), $"{name}: loss {loss} vs reference {reference}");
        CheckParameters(name, model, Objective);
    }
}

public sealed class LinearHeadTests
{
    [Fact]
    public void ScalarHeadOnLastTokens_ThroughTheModel_MatchesFiniteDifferences()
    {
        // A reward model: r_b = w·h(last token of row b) + bias, loss = Σ_b y_b r_b; gradients of the head and of the
        // model (via dL/dhidden) against central differences of the double oracle.
        var cfg = new GptConfig { VocabSize = 13, ContextLength = 8, Layers = 2, Heads = 2, KvHeads = 1, EmbeddingSize = 8, Mlp = MlpKind.SwiGlu, NormKind = NormKind.RmsNorm, Positions = PositionEncoding.Rotary, InitStd = 0.3f };
        const int B = 3, T = 5;
        int C = cfg.EmbeddingSize;
        var model = new GptModel(cfg, seed: 4);
        var head = NextToken.Model.Heads.LinearHead.Scalar(C, seed: 9);
        var rng = new Rng(3);
        for (int i = 0; i < head.Parameters.Length; i++) head.Parameters[i] += (float)(0.5 * rng.NextGaussian());
        var inputs = Enumerable.Range(0, B * T).Select(_ => rng.NextInt(cfg.VocabSize)).ToArray();
        int[] last = [T - 1, 2 * T - 1, 3 * T - 1];
        double[] y = [1.0, -0.5, 2.0];
        var hidden = model.ForwardHidden(inputs, B, T);
        var r = new float[B];
        head.Forward(hidden, last, r);
        var dHidden = new float[B * T * C];
        head.Backward(y.Select(v => (float)v).ToArray(), last, dHidden);
        model.BackwardFromHidden(dHidden);

        double Objective(double[] p, double[] hp)
        {
            var o = NextToken.Tests.Reference.ReferenceGpt.Run(cfg, model.Layout, p, new NextToken.Tests.Reference.ReferenceInput { Inputs = inputs, B = B, T = T });
            double s = 0;
            for (int b = 0; b < B; b++)
            {
                double v = hp[head.Layout["score.bias"].Offset];
                for (int c = 0; c < C; c++) v += hp[head.Layout["score.weight"].Offset + c] * o.Hidden[last[b] * C + c];
                s += y[b] * v;
            }
            return s;
        }
        double[] p64 = model.Parameters.Select(f => (double)f).ToArray(), h64 = head.Parameters.Select(f => (double)f).ToArray();
        Assert.Equal(Objective(p64, h64), y.Zip(r, (yy, rr) => yy * rr).Sum(), 4);
        Assert.Equal(model.Layout.Size, model.GradientLayout.Size); // everything trainable: gradients share the parameters' offsets
        foreach (var (arr, grads, name) in new[] { (h64, head.Gradients, "head"), (p64, model.Gradients!, "model") })
        {
            int step = Math.Max(1, arr.Length / 40);
            for (int i = 0; i < arr.Length; i += step)
            {
                if (name == "model")
                {
                    // Skip alignment padding between tensors and the vocabulary's padding rows.
                    var slot = model.Layout.Slots.FirstOrDefault(s => s.Offset <= i && i < s.Offset + s.Length);
                    if (slot is null || i - slot.Offset >= GptParameters.RealLength(cfg, slot)) continue;
                }
                double orig = arr[i], hh = 1e-5;
                arr[i] = orig + hh; double lp = Objective(p64, h64);
                arr[i] = orig - hh; double lm = Objective(p64, h64);
                arr[i] = orig;
                double fd = (lp - lm) / (2 * hh);
                Assert.True(Math.Abs(grads[i] - fd) <= 1e-3 + 1e-2 * Math.Abs(fd), $"{name}[{i}]: {grads[i]} vs finite differences {fd}");
            }
        }
    }
}
