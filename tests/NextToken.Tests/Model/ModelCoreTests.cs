// The model core's contracts that need no oracle: KV-cache decoding equals the full forward for every variant, packed
// documents equal separate runs, accumulation over micro-batches equals one big batch, frozen tensors cost nothing,
// the two-phase backward equals the fused LM loss, embedding prefixes and position ids behave as their definitions say.
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Training;

namespace NextToken.Tests.Model;

public sealed class ModelCoreTests
{
    private static readonly GptConfig Tiny = new() { VocabSize = 23, ContextLength = 16, Layers = 2, Heads = 4, EmbeddingSize = 16, InitStd = 0.3f };

    // Small models of every family the config can express (grouped-query, multi-query, SwiGLU, RMSNorm included).
    public static TheoryData<string, GptConfig> Variants() => new()
    {
        { "gpt2", Tiny },
        { "gpt1 post-ln", Tiny with { Norm = NormPlacement.Post } },
        { "sinusoidal", Tiny with { Positions = PositionEncoding.Sinusoidal } },
        { "rotary untied no-bias", Tiny with { Positions = PositionEncoding.Rotary, TiedEmbeddings = false, Bias = false } },
        { "smollm2-style gqa", Tiny with { KvHeads = 2, Mlp = MlpKind.SwiGlu, MlpHiddenSize = 24, NormKind = NormKind.RmsNorm, Positions = PositionEncoding.Rotary, Bias = false, RotaryBase = 500f } },
        { "mqa learned swiglu", Tiny with { KvHeads = 1, Mlp = MlpKind.SwiGlu, MlpHiddenSize = 20 } },
        { "gqa post-ln rmsnorm", Tiny with { KvHeads = 2, Norm = NormPlacement.Post, NormKind = NormKind.RmsNorm } },
    };

    private static int[] Tokens(int n, ulong seed, int vocab)
    {
        var r = new Rng(seed);
        return Enumerable.Range(0, n).Select(_ => r.NextInt(vocab)).ToArray();
    }

    internal static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * Math.Max(1, Math.Abs(expected[i])), $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void KvCacheDecoding_EqualsFullForward(string name, GptConfig cfg)
    {
        const int T = 9;
        var model = new GptModel(cfg, seed: 5);
        int V = cfg.VocabSize;
        var tokens = Tokens(T, 17, V);
        var full = new float[T * V];
        model.ForwardLogits(tokens, 1, T, full);
        // Token by token.
        var cache = model.CreateCache();
        Assert.Equal(cfg.KvHeadCount * cfg.HeadSize, cache.Width); // the cache holds key/value heads only
        var step = new float[V];
        for (int t = 0; t < T; t++)
        {
            model.Forward(cache, tokens.AsSpan(t, 1), step);
            AssertClose(full.AsSpan(t * V, V), step, 2e-5, $"{name} position {t}");
        }
        // A prompt of 4, then all positions of the rest at once (speculative verification's shape).
        var c2 = model.CreateCache();
        model.Forward(c2, tokens.AsSpan(0, 4), step);
        var rest = new float[(T - 4) * V];
        model.Forward(c2, tokens.AsSpan(4), rest, allPositions: true);
        AssertClose(full.AsSpan(4 * V), rest, 2e-5, $"{name} multi-row decode");
        // Three sequences in lockstep (batched decoding).
        var caches = new[] { model.CreateCache(), model.CreateCache(), model.CreateCache() };
        var batch = new float[3 * V];
        for (int t = 0; t < T; t++)
        {
            model.ForwardBatch(caches, new[] { tokens[t], tokens[t], tokens[t] }, batch);
            for (int b = 0; b < 3; b++) AssertClose(full.AsSpan(t * V, V), batch.AsSpan(b * V, V), 2e-5, $"{name} batched position {t}");
        }
    }

    // Batched decoding (one GEMV pass for all rows, one attention loop over every sequence's heads) gives each sequence
    // exactly the bits it gets decoded alone, whatever the other sequences' lengths: the server and PPO's rollouts rely on it.
    [Theory]
    [MemberData(nameof(Variants))]
    public void BatchedDecoding_IsBitIdenticalToDecodingEachSequenceAlone(string name, GptConfig cfg)
    {
        var model = new GptModel(cfg, seed: 8);
        int V = cfg.VocabSize, S = 5;
        var rng = new Rng(9);
        var alone = new KvCache[S]; var together = new KvCache[S];
        var step = new float[V];
        for (int s = 0; s < S; s++)
        {
            var prompt = Enumerable.Range(0, 1 + s).Select(_ => rng.NextInt(V)).ToArray(); // different lengths
            alone[s] = model.CreateCache(); together[s] = model.CreateCache();
            model.Forward(alone[s], prompt, step);
            model.Forward(together[s], prompt, step);
        }
        var batch = new float[S * V];
        for (int t = 0; t < 4; t++)
        {
            var tokens = Enumerable.Range(0, S).Select(_ => rng.NextInt(V)).ToArray();
            model.ForwardBatch(together, tokens, batch);
            for (int s = 0; s < S; s++)
            {
                model.Forward(alone[s], tokens.AsSpan(s, 1), step);
                Assert.True(step.AsSpan().SequenceEqual(batch.AsSpan(s * V, V)), $"{name}: sequence {s} at step {t} differs from decoding it alone");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void PackedDocuments_GiveTheLogitsEachDocumentGivesAlone(string name, GptConfig cfg)
    {
        var model = new GptModel(cfg, seed: 6);
        int V = cfg.VocabSize;
        var a = Tokens(5, 1, V);
        var b = Tokens(6, 2, V);
        var c = Tokens(3, 3, V);
        int T = a.Length + b.Length + c.Length;
        int[] packed = [.. a, .. b, .. c];
        int[] docs = [.. Enumerable.Repeat(7, a.Length), .. Enumerable.Repeat(3, b.Length), .. Enumerable.Repeat(9, c.Length)];
        var logits = new float[T * V];
        model.ForwardLogits(packed, 1, T, logits, new BatchLayout { DocumentIds = docs });
        int at = 0;
        foreach (var doc in new[] { a, b, c })
        {
            var alone = new float[doc.Length * V];
            model.ForwardLogits(doc, 1, doc.Length, alone);
            AssertClose(alone, logits.AsSpan(at * V, doc.Length * V), 1e-5, $"{name} document at {at}");
            at += doc.Length;
        }
    }

    [Fact]
    public void PackedDocuments_LossAndGradientsEqualSeparateBatches()
    {
        var cfg = Tiny with { KvHeads = 2, Positions = PositionEncoding.Rotary };
        int V = cfg.VocabSize;
        var a = Tokens(7, 4, V); var b = Tokens(7, 5, V);
        var ta = Tokens(7, 6, V); var tb = Tokens(7, 7, V);
        var packedModel = new GptModel(cfg, seed: 8);
        packedModel.EnableGradients();
        float packedLoss = packedModel.Forward([.. a, .. b], [.. ta, .. tb], 1, 14, computeGradients: true,
                                              extras: new BatchLayout { DocumentIds = [.. Enumerable.Repeat(0, 7), .. Enumerable.Repeat(1, 7)] });
        packedModel.Backward();
        var batchModel = new GptModel(cfg, seed: 8);
        batchModel.EnableGradients();
        float batchLoss = batchModel.Forward([.. a, .. b], [.. ta, .. tb], 2, 7, computeGradients: true);
        batchModel.Backward();
        Assert.Equal(batchLoss, packedLoss, 5);
        AssertClose(batchModel.Gradients!, packedModel.Gradients!, 1e-4, "packed gradient");
    }

    [Fact]
    public void Accumulation_FourMicroBatchesWithDifferentMasks_EqualOneBigBatch()
    {
        var cfg = Tiny with { KvHeads = 2, Mlp = MlpKind.SwiGlu, NormKind = NormKind.RmsNorm };
        const int T = 8, micro = 4;
        int V = cfg.VocabSize;
        var inputs = Tokens(micro * T, 11, V);
        var targets = Tokens(micro * T, 12, V);
        // Micro-batch k masks k*2 + 1 targets: their counts differ (7, 5, 3, 1 counted).
        for (int k = 0; k < micro; k++)
            for (int j = 0; j <= 2 * k; j++) targets[k * T + j] = CrossEntropy.IgnoreIndex;
        var big = new GptModel(cfg, seed: 9);
        big.EnableGradients();
        float bigLoss = big.Forward(inputs, targets, micro, T, computeGradients: true);
        big.Backward();

        var acc = new GptModel(cfg, seed: 9);
        acc.EnableGradients();
        var total = default(LossSum);
        for (int k = 0; k < micro; k++)
        {
            total += acc.ForwardSum(inputs.AsSpan(k * T, T), targets.AsSpan(k * T, T), 1, T, computeGradients: true);
            acc.Backward();
        }
        Assert.Equal(32 - 16, total.Weight);
        Assert.Equal(bigLoss, (float)total.Mean, 5);
        var scaled = acc.Gradients!.Select(g => (float)(g / total.Weight)).ToArray();
        AssertClose(big.Gradients!, scaled, 2e-5, "accumulated gradient");
    }

    [Fact]
    public void Trainer_GradientAccumulation_WithMaskedTargets_MatchesTheWholeBatchMean()
    {
        // The trainer's loop is ForwardSum + one division by the optimizer batch's weight at the update (tested above);
        // here: the weighted mean over micro-batches equals Forward's weighted mean with per-target weights.
        var cfg = Tiny;
        const int T = 6;
        var inputs = Tokens(2 * T, 21, cfg.VocabSize);
        var targets = Tokens(2 * T, 22, cfg.VocabSize);
        float[] weights = [0, 0.5f, 1, 2, 0, 1, 1, 1, 3, 0, 0.25f, 1];
        var m = new GptModel(cfg, seed: 2);
        float mean = m.Forward(inputs, targets, 2, T, weights: weights);
        var s1 = m.ForwardSum(inputs.AsSpan(0, T), targets.AsSpan(0, T), 1, T, weights: weights.AsSpan(0, T));
        var s2 = m.ForwardSum(inputs.AsSpan(T), targets.AsSpan(T), 1, T, weights: weights.AsSpan(T));
        Assert.Equal(weights.Sum(), (s1 + s2).Weight, 5);
        Assert.Equal(mean, (float)(s1 + s2).Mean, 5);
        // Weighted mean by hand from the per-position losses.
        m.Forward(inputs, targets, 2, T);
        double byHand = 0;
        for (int i = 0; i < 2 * T; i++) byHand += weights[i] * m.LastLosses[i];
        Assert.Equal(byHand / weights.Sum(), mean, 4);
    }

    [Fact]
    public void Frozen_EverythingButOneSmallTensor_GradientAndOptimizerMemoryIsThatTensor()
    {
        var cfg = Tiny with { Layers = 3, EmbeddingSize = 32, VocabSize = 61 };
        const string trainable = "h.1.ln_2.weight";
        var model = new GptModel(cfg, seed: 4);
        model.Freeze(_ => true);
        model.SetTrainable(s => s.Name == trainable, true);
        long before = GC.GetAllocatedBytesForCurrentThread();
        model.EnableGradients();
        var opt = new AdamW(model.Layout, model.GradientLayout, new AdamWOptions());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        int size = cfg.EmbeddingSize;
        Assert.Equal(size, model.Gradients!.Length);
        Assert.Equal(size, opt.M.Length);
        Assert.Equal(size, opt.V.Length);
        // Three float arrays of 32 plus the optimizer's chunk tables: well under a kilobyte beyond 3·4·size bytes.
        Assert.True(allocated < 3 * 4 * size + 2048, $"gradients + optimizer allocated {allocated} bytes");

        var full = new GptModel(cfg, seed: 4);
        full.EnableGradients();
        var inputs = Tokens(2 * 8, 3, cfg.VocabSize); var targets = Tokens(2 * 8, 4, cfg.VocabSize);
        full.Forward(inputs, targets, 2, 8, computeGradients: true); full.Backward();
        model.Forward(inputs, targets, 2, 8, computeGradients: true); model.Backward();
        AssertClose(full.Gradient(trainable), model.Gradient(trainable), 1e-6, "the one trainable tensor's gradient");
        Assert.Throws<InvalidOperationException>(() => model.Gradient("h.0.attn.c_attn.weight"));
        var frozenBefore = model.Parameters.ToArray();
        opt.Update(model.Parameters, model.Gradients!, 0.1f);
        foreach (var s in model.Layout.Slots)
        {
            bool changed = !model.Parameter(s.Name).SequenceEqual(frozenBefore.AsSpan((int)s.Offset, (int)s.Length));
            Assert.Equal(s.Name == trainable, changed);
        }
    }

    [Fact]
    public void Frozen_LowerBlocks_AreSkippedInBackward_AndUpperGradientsUnchanged()
    {
        var cfg = Tiny with { Layers = 3 };
        var inputs = Tokens(8, 31, cfg.VocabSize); var targets = Tokens(8, 32, cfg.VocabSize);
        var full = new GptModel(cfg, seed: 3);
        full.EnableGradients();
        full.Forward(inputs, targets, 1, 8, computeGradients: true); full.Backward();
        var top = new GptModel(cfg, seed: 3);
        top.Freeze(s => !s.Name.StartsWith("h.2.", StringComparison.Ordinal));
        top.EnableGradients();
        top.Forward(inputs, targets, 1, 8, computeGradients: true); top.Backward();
        foreach (var s in top.GradientLayout.Slots) AssertClose(full.Gradient(s.Name), top.Gradient(s.Name), 1e-6, s.Name);
        Assert.All(top.GradientLayout.Slots, s => Assert.StartsWith("h.2.", s.Name));
    }

    [Fact]
    public void InferenceOnly_AllocatesNoGradientOrBackwardBuffers()
    {
        var model = new GptModel(Tiny, seed: 1);
        var inputs = Tokens(16, 1, Tiny.VocabSize);
        model.Forward(inputs, inputs, 2, 8);
        model.ForwardLogits(inputs, 2, 8, new float[16 * Tiny.VocabSize]);
        Assert.Null(model.Gradients);
        Assert.False(model.HasBackwardBuffers);
        model.Forward(inputs, inputs, 2, 8, computeGradients: true);
        Assert.True(model.HasBackwardBuffers);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void TwoPhaseBackward_WithDLogProbs_EqualsTheFusedWeightedLoss(string name, GptConfig cfg)
    {
        const int B = 2, T = 6;
        int N = B * T;
        var inputs = Tokens(N, 41, cfg.VocabSize); var targets = Tokens(N, 42, cfg.VocabSize);
        targets[4] = CrossEntropy.IgnoreIndex;
        var weights = Enumerable.Range(0, N).Select(i => (float)(0.25 + (i % 4) * 0.5)).ToArray();
        var fused = new GptModel(cfg, seed: 7);
        fused.EnableGradients();
        float loss = fused.Forward(inputs, targets, B, T, computeGradients: true, weights: weights);
        fused.Backward();

        var two = new GptModel(cfg, seed: 7);
        var logp = new float[N]; var entropy = new float[N];
        two.ForwardLogProbs(inputs, targets, B, T, logp, entropy);
        double W = 0; for (int i = 0; i < N; i++) if (targets[i] >= 0) W += weights[i];
        double byLogp = 0; for (int i = 0; i < N; i++) if (targets[i] >= 0) byLogp -= weights[i] * logp[i] / W;
        Assert.Equal(loss, byLogp, 4);
        Assert.Equal(0f, logp[4]);
        var dlogp = Enumerable.Range(0, N).Select(i => targets[i] >= 0 ? (float)(-weights[i] / W) : 123f).ToArray(); // ignored rows must not count
        two.Backward(dlogp, default);
        AssertClose(fused.Gradients!, two.Gradients!, 2e-5, $"{name}: gradient");

        // Entropy against the full logits in double.
        var logits = new float[N * cfg.VocabSize];
        two.ForwardLogits(inputs, B, T, logits);
        for (int n = 0; n < N; n++)
        {
            var row = logits.AsSpan(n * cfg.VocabSize, cfg.VocabSize).ToArray().Select(v => (double)v).ToArray();
            double mx = row.Max(), z = row.Sum(v => Math.Exp(v - mx)), h = 0;
            foreach (var v in row) { double p = Math.Exp(v - mx) / z; h -= p * Math.Log(p); }
            Assert.Equal(h, entropy[n], 4);
        }
    }

    [Fact]
    public void EmbeddingPrefix_OfTheTokensOwnEmbeddings_GivesTheSameLogitsAndTheirGradient()
    {
        var cfg = Tiny with { TiedEmbeddings = false };
        const int B = 2, T = 7, P = 3;
        int C = cfg.EmbeddingSize, V = cfg.VocabSize;
        // Prefix tokens (distinct, used nowhere else) and the rest.
        int[] inputs = [1, 2, 3, 10, 11, 12, 13, 4, 5, 6, 14, 10, 15, 16];
        var targets = Tokens(B * T, 5, V);
        var model = new GptModel(cfg, seed: 3);
        var prefix = new float[B * P * C];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < P; t++) model.Parameter("wte.weight").Slice(inputs[b * T + t] * C, C).CopyTo(prefix.AsSpan((b * P + t) * C, C));
        var plain = new float[B * T * V];
        model.ForwardLogits(inputs, B, T, plain);
        var withPrefix = new float[B * T * V];
        var junk = inputs.ToArray();
        for (int b = 0; b < B; b++) for (int t = 0; t < P; t++) junk[b * T + t] = 999; // not read at prefix positions
        var layout = new BatchLayout { PrefixEmbeddings = prefix, PrefixLength = P };
        model.ForwardLogits(junk, B, T, withPrefix, layout);
        Assert.Equal(plain, withPrefix);

        model.EnableGradients();
        model.Forward(inputs, targets, B, T, computeGradients: true);
        model.Backward();
        var dwte = model.Gradient("wte.weight").ToArray();
        model.ZeroGradients();
        model.Forward(junk, targets, B, T, computeGradients: true, extras: layout);
        model.Backward();
        var dPrefix = model.PrefixGradient.ToArray();
        Assert.Equal(B * P * C, dPrefix.Length);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < P; t++)
            {
                int id = inputs[b * T + t];
                AssertClose(dwte.AsSpan(id * C, C), dPrefix.AsSpan((b * P + t) * C, C), 1e-5, $"prefix gradient row {b},{t}");
                Assert.All(model.Gradient("wte.weight").Slice(id * C, C).ToArray(), g => Assert.Equal(0f, g)); // prefix rows touch no token row
            }
    }

    [Theory]
    [InlineData(PositionEncoding.Learned)]
    [InlineData(PositionEncoding.Rotary)]
    public void PositionIds_DefaultOnesEqualNone_AndRotaryIsShiftInvariant(PositionEncoding positions)
    {
        var cfg = Tiny with { Positions = positions, KvHeads = 2 };
        const int T = 6;
        int V = cfg.VocabSize;
        var model = new GptModel(cfg, seed: 12);
        var tokens = Tokens(T, 13, V);
        var plain = new float[T * V];
        model.ForwardLogits(tokens, 1, T, plain);
        var explicitIds = new float[T * V];
        model.ForwardLogits(tokens, 1, T, explicitIds, new BatchLayout { PositionIds = [0, 1, 2, 3, 4, 5] });
        Assert.Equal(plain, explicitIds);
        var shifted = new float[T * V];
        model.ForwardLogits(tokens, 1, T, shifted, new BatchLayout { PositionIds = [7, 8, 9, 10, 11, 12] });
        if (positions == PositionEncoding.Rotary) AssertClose(plain, shifted, 1e-4, "rotary logits under a shift of every position");
        else Assert.NotEqual(plain, shifted);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ForwardLogits(tokens, 1, T, shifted, new BatchLayout { PositionIds = [0, 1, 2, 3, 4, 16] }));
    }

    [Fact]
    public void Smollm2Preset_HasExactly134515008Parameters_AndTheCliPrintsIt()
    {
        var cfg = GptPresets.Get("smollm2-135m");
        var parts = GptParameters.Breakdown(cfg);
        Assert.Equal(134_515_008L, parts["total"]);
        Assert.Equal(49152L * 576, parts["token_embedding"]);
        Assert.Equal(576L, parts["final_layernorm"]);
        Assert.Equal(0L, parts["lm_head"]);
        Assert.Equal(30L * (576 * 576 * 2 + 2 * 576 * 192 + 3 * 576 * 1536 + 2 * 576), parts["blocks"]);
        var layout = GptParameters.Layout(cfg);
        Assert.Equal(new[] { (9 + 2 * 3) * 64, 576 }, layout["h.0.attn.c_attn.weight"].Shape);
        Assert.Equal(new[] { 2 * 1536, 576 }, layout["h.0.mlp.c_fc.weight"].Shape);
        Assert.False(layout.Contains("h.0.ln_1.bias"));
        var r = Cli.CliProcess.Run("params", "--preset", "smollm2-135m");
        Assert.Equal(0, r.Exit);
        Assert.Equal("134515008", r.Out.Trim());
    }

    [Fact]
    public void KvCache_OfAGroupedQueryModel_IsSizedByKeyValueHeads()
    {
        var cfg = GptPresets.Get("smollm2-135m") with { Layers = 1, ContextLength = 32, VocabSize = 64 };
        var cache = new GptModel(cfg, seed: 1).CreateCache();
        Assert.Equal(3 * 64, cache.Width);
        Assert.Equal(32L * 3 * 64, cache.Keys.LongLength);
    }
}

public sealed class LinearAdapterHookTests
{
    // y += x·Dᵀ with a full matrix D: the simplest adapter, whose effect and gradient are known exactly (W + D merged).
    private sealed class AdditiveAdapter(int inF, int outF, float[] d) : NextToken.Model.Blocks.ILinearAdapter
    {
        public readonly float[] D = d, DGrad = new float[outF * inF];
        public void Forward(ReadOnlySpan<float> x, Span<float> y, int N)
        {
            for (int n = 0; n < N; n++)
                for (int o = 0; o < outF; o++)
                {
                    float s = 0;
                    for (int i = 0; i < inF; i++) s += x[n * inF + i] * D[o * inF + i];
                    y[n * outF + o] += s;
                }
        }
        public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, Span<float> dx, int N) =>
            Matmul.Backward(dy, x, D, dx, DGrad, default, N, inF, outF);
    }

    [Fact]
    public void Adapter_OnAFrozenBase_EqualsTheMergedWeight_InTrainingAndDecoding_AndGetsItsGradient()
    {
        var cfg = new GptConfig { VocabSize = 19, ContextLength = 12, Layers = 2, Heads = 2, KvHeads = 1, EmbeddingSize = 8, Mlp = MlpKind.SwiGlu, MlpHiddenSize = 12, InitStd = 0.3f };
        const string target = "h.0.attn.c_attn";
        var rng = new Rng(5);
        var baseModel = new GptModel(cfg, seed: 2);
        var lin = baseModel.Linear(target);
        var d = new float[lin.Out * lin.In];
        rng.FillNormal(d, 0f, 0.2f);
        var adapter = new AdditiveAdapter(lin.In, lin.Out, d);
        lin.Adapter = adapter;
        baseModel.Freeze(_ => true);

        var merged = new GptModel(cfg, seed: 2);
        var w = merged.Parameter(target + ".weight");
        for (int i = 0; i < w.Length; i++) w[i] += d[i];

        int[] inputs = [1, 5, 7, 2, 9, 11, 3, 0, 4, 18];
        int[] targets = [5, 7, 2, 9, 11, 3, 0, 4, 18, 6];
        var a = new float[10 * cfg.VocabSize]; var b = new float[10 * cfg.VocabSize];
        baseModel.ForwardLogits(inputs, 1, 10, a);
        merged.ForwardLogits(inputs, 1, 10, b);
        ModelCoreTests.AssertClose(b, a, 1e-4, "adapter logits");

        // Decoding goes through the same Linear, adapter included.
        var cache = baseModel.CreateCache();
        var step = new float[cfg.VocabSize];
        for (int t = 0; t < 10; t++)
        {
            baseModel.Forward(cache, inputs.AsSpan(t, 1), step);
            ModelCoreTests.AssertClose(b.AsSpan(t * cfg.VocabSize, cfg.VocabSize), step, 1e-4, "adapter decoding");
        }

        // With every base tensor frozen the backward still reaches the adapter's layer (the lowest block with an adapter).
        baseModel.EnableGradients();
        Assert.Empty(baseModel.Gradients!);
        baseModel.Forward(inputs, targets, 1, 10, computeGradients: true);
        baseModel.Backward();
        merged.EnableGradients();
        merged.Forward(inputs, targets, 1, 10, computeGradients: true);
        merged.Backward();
        var expected = merged.Gradient(target + ".weight");
        ModelCoreTests.AssertClose(expected, adapter.DGrad, 1e-4, "adapter gradient");
    }
}
