// Whole-model gradient checks: analytic float gradients against central finite differences of a double reference.
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tests.Reference;

namespace NextToken.Tests.Model;

public sealed class GptModelGradientTests
{
    private static readonly GptConfig Tiny = new() { VocabSize = 11, ContextLength = 8, Layers = 2, Heads = 2, EmbeddingSize = 8 };

    public static TheoryData<string, GptConfig> Configs() => new()
    {
        { "pre-ln learned tied bias", Tiny },
        { "post-ln (gpt1)", Tiny with { Norm = NormPlacement.Post } },
        { "sinusoidal", Tiny with { Positions = PositionEncoding.Sinusoidal } },
        { "rotary, untied, no bias", Tiny with { Positions = PositionEncoding.Rotary, TiedEmbeddings = false, Bias = false } },
        { "post-ln rotary", Tiny with { Norm = NormPlacement.Post, Positions = PositionEncoding.Rotary } },
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void Backward_TinyModel_MatchesFiniteDifferences(string name, GptConfig cfg)
    {
        const int B = 2, T = 5;
        var model = new GptModel(cfg, seed: 3);
        // Larger init than 0.02 so every path carries signal the differences can see.
        var rng = new Rng(9);
        foreach (var s in model.Layout.Slots)
        {
            var p = model.Parameter(s.Name);
            if (s.Name is "wte.weight" or "lm_head.weight") p = p[..(cfg.VocabSize * cfg.EmbeddingSize)];
            for (int i = 0; i < p.Length; i++) p[i] += (float)(0.3 * rng.NextGaussian());
        }
        int[] inputs = new int[B * T], targets = new int[B * T];
        for (int i = 0; i < B * T; i++) { inputs[i] = rng.NextInt(cfg.VocabSize); targets[i] = rng.NextInt(cfg.VocabSize); }
        targets[3] = -1; // an ignored position must contribute nothing

        model.EnableGradients();
        model.ZeroGradients();
        float loss = model.Forward(inputs, targets, B, T, computeGradients: true);
        model.Backward();

        double[] p64 = model.Parameters.Select(f => (double)f).ToArray();
        double refLoss = ReferenceGpt.Loss(cfg, model.Layout, p64, inputs, targets, B, T);
        Assert.True(Math.Abs(loss - refLoss) < 1e-4 * Math.Max(1, refLoss), $"{name}: loss {loss} vs reference {refLoss}");

        int checkedCount = 0;
        foreach (var slot in model.Layout.Slots)
        {
            long n = slot.Name is "wte.weight" or "lm_head.weight" ? cfg.VocabSize * cfg.EmbeddingSize : slot.Length;
            // A few entries of every tensor (all of the small ones).
            int step = (int)Math.Max(1, n / 6);
            for (long i = 0; i < n; i += step)
            {
                long idx = slot.Offset + i;
                double orig = p64[idx], h = 1e-5;
                p64[idx] = orig + h; double lp = ReferenceGpt.Loss(cfg, model.Layout, p64, inputs, targets, B, T);
                p64[idx] = orig - h; double lm = ReferenceGpt.Loss(cfg, model.Layout, p64, inputs, targets, B, T);
                p64[idx] = orig;
                double fd = (lp - lm) / (2 * h);
                double g = model.Gradients![idx];
                Assert.True(Math.Abs(g - fd) <= 1e-3 + 1e-2 * Math.Abs(fd), $"{name}: d loss / d {slot.Name}[{i}] = {g}, finite differences {fd}");
                checkedCount++;
            }
        }
        Assert.True(checkedCount > 50);
    }

    [Fact]
    public void Forward_KvCacheIncremental_MatchesFullForward()
    {
        foreach (var cfg in new[] { Tiny, Tiny with { Positions = PositionEncoding.Rotary }, Tiny with { Norm = NormPlacement.Post } })
        {
            var model = new GptModel(cfg, seed: 5);
            int[] tokens = [1, 4, 2, 7, 3, 9];
            int T = tokens.Length, V = cfg.VocabSize;
            var full = new float[T * V];
            model.ForwardLogits(tokens, 1, T, full);
            var cache = model.CreateCache();
            var step = new float[V];
            // The first 2 tokens at once, then one by one: every position's logits equal the full forward's.
            var two = new float[2 * V];
            model.Forward(cache, tokens.AsSpan(0, 2), two, allPositions: true);
            for (int v = 0; v < 2 * V; v++) Assert.Equal(full[v], two[v], 1e-5f);
            for (int t = 2; t < T; t++)
            {
                model.Forward(cache, tokens.AsSpan(t, 1), step);
                for (int v = 0; v < V; v++) Assert.Equal(full[t * V + v], step[v], 1e-5f);
            }
            Assert.Equal(T, cache.Length);
            // Batched decoding of two sequences equals decoding each alone.
            var c1 = model.CreateCache(); var c2 = model.CreateCache();
            model.Forward(c1, tokens.AsSpan(0, 3), step);
            model.Forward(c2, tokens.AsSpan(0, 1), step);
            var batch = new float[2 * V];
            model.ForwardBatch([c1, c2], [tokens[3], tokens[1]], batch);
            for (int v = 0; v < V; v++) { Assert.Equal(full[3 * V + v], batch[v], 1e-5f); Assert.Equal(full[1 * V + v], batch[V + v], 1e-5f); }
        }
    }

    [Fact]
    public void Params_Gpt2Preset_Is124439808()
    {
        Assert.Equal(124_439_808L, GptParameters.Count(GptPresets.Get("gpt2")));
        Assert.Equal(354_823_168L, GptParameters.Count(GptPresets.Get("gpt2-medium")));
    }

    [Fact]
    public void Validate_HeadsNotDividingWidth_ThrowsWithHint()
    {
        var e = Assert.Throws<ArgumentException>(() => (Tiny with { Heads = 3 }).Validate());
        Assert.Contains("must divide", e.Message);
    }
}
