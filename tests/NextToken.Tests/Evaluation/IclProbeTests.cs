// ICL probes: induction and prefix-matching scores of hand-set attention patterns, the ICL score of a synthetic loss
// curve, and the attention patterns rebuilt from q/k against the attention kernel's own output.
using NextToken.Evaluation.Probes;
using NextToken.Model;

namespace NextToken.Tests.Evaluation;

public sealed class IclProbeTests
{
    [Fact]
    public void InductionScore_OfAHandSetPattern()
    {
        // R = 3, T = 6: rows 3..5 put 0.5 on the induction key t - R + 1 (= 1, 2, 3) and 0.5 on key 0.
        int T = 6, R = 3;
        var p = new float[T * T];
        for (int t = 0; t < T; t++) p[t * T] = 1; // everything on the first token by default
        for (int t = R; t < T; t++) { p[t * T] = 0.5f; p[t * T + t - R + 1] += 0.5f; }
        Assert.Equal(0.5, IclProbes.InductionScore(p, T, R), 6);
        // A previous-token head (all mass on t - 1) scores 0 except where t - 1 happens to be t - R + 1 (never for R = 3).
        var prev = new float[T * T];
        prev[0] = 1;
        for (int t = 1; t < T; t++) prev[t * T + t - 1] = 1;
        Assert.Equal(0, IclProbes.InductionScore(prev, T, R));
    }

    [Fact]
    public void InductionScore_OverASpan_CountsOnlyTokensUniqueInTheFirstCopy()
    {
        // Episode-like copy of R = 4 tokens "k L n n" (n repeats), T = 8: the second copy's k (t = 4) puts 0.6 on the
        // earlier copy's next-but-one token (t - R + 2) and 0.4 on itself; its L (t = 5) puts 1 on t - R + 1; the
        // separators n put everything on t - R + 1 too but are skipped: n occurs twice in the first copy.
        int[] tokens = [1, 2, 3, 3, 1, 2, 3, 3];
        int T = tokens.Length, R = 4;
        var p = new float[T * T];
        for (int t = 0; t < T; t++) p[t * T + t] = 1;
        p[4 * T + 4] = 0.4f; p[4 * T + 2] = 0.6f;
        for (int t = 5; t < T; t++) { p[t * T + t] = 0; p[t * T + t - R + 1] = 1; }
        Assert.Equal((0 + 1 + 1 + 1) / 4.0, IclProbes.InductionScore(p, T, R), 6);                  // offset 1, every position
        Assert.Equal((0.6 + 1 + 1 + 1) / 4.0, IclProbes.InductionScore(p, T, R, span: 2), 6);       // offsets 1-2
        Assert.Equal((0.6 + 1) / 2.0, IclProbes.InductionScore(p, T, R, span: 2, tokens), 6);      // k and L only
        Assert.Throws<ArgumentOutOfRangeException>(() => IclProbes.InductionScore(p, T, R, span: 0));
    }

    [Fact]
    public void PrefixMatchingScore_OfAHandSetPattern()
    {
        // tokens a b c a b: position 3 (a) should look at 1 (after the earlier a), position 4 (b) at 2.
        int[] tokens = [7, 8, 9, 7, 8];
        int T = tokens.Length;
        var p = new float[T * T];
        for (int t = 0; t < T; t++) p[t * T + t] = 1;
        p[3 * T + 3] = 0.25f; p[3 * T + 1] = 0.75f;
        p[4 * T + 4] = 1f; // position 4 attends only to itself: no prefix matching
        Assert.Equal((0.75 + 0) / 2, IclProbes.PrefixMatchingScore(p, tokens), 6);
    }

    [Fact]
    public void IclScore_OfASyntheticLossCurve()
    {
        // loss(t) = 2 + 1/(t+1): late (500) minus early (50) for a 1024 context; scaled positions for 64.
        var curve = Enumerable.Range(0, 1024).Select(t => 2 + 1.0 / (t + 1)).ToArray();
        Assert.Equal((50, 500), IclProbes.ScorePositions(1024));
        Assert.Equal(1.0 / 501 - 1.0 / 51, IclProbes.IclScore(curve), 12);
        var (early, late) = IclProbes.ScorePositions(64);
        Assert.Equal((6, 62), (early, late));
        Assert.Equal(1.0 / 63 - 1.0 / 7, IclProbes.IclScore(curve.AsSpan(0, 64)), 12);
        Assert.True(IclProbes.IclScore(curve.AsSpan(0, 64)) < 0);
    }

    [Fact]
    public void RebuiltAttentionPatterns_ReproduceTheKernelsOutput()
    {
        var cfg = new GptConfig { VocabSize = 13, ContextLength = 12, Layers = 2, Heads = 2, EmbeddingSize = 16, InitStd = 0.4f };
        var model = new GptModel(cfg, 3);
        var (loss, heads, R) = IclProbes.RepeatedRandomTokens(model, batch: 2, seed: 5);
        Assert.Equal(6, R);
        Assert.Equal(2 * R - 1, loss.Length);
        Assert.All(heads.Induction.Cast<double>(), v => Assert.InRange(v, 0, 1));
        // pattern · V must equal the attention kernel's saved output for every head of every layer.
        int T = 2 * R - 1, W = cfg.QkvSize, HS = cfg.HeadSize, C = cfg.EmbeddingSize;
        var pattern = new float[T * T];
        for (int l = 0; l < cfg.Layers; l++)
        {
            var qkv = model.Activation($"h.{l}.qkv");
            var atty = model.Activation($"h.{l}.atty");
            for (int h = 0; h < cfg.Heads; h++)
            {
                IclProbes.AttentionPattern(qkv[..(T * W)], pattern, T, W, h * HS, (cfg.Heads + h) * HS, HS, 1f / MathF.Sqrt(HS));
                for (int t = 0; t < T; t++)
                    for (int d = 0; d < HS; d++)
                    {
                        double y = 0;
                        for (int s = 0; s <= t; s++) y += pattern[t * T + s] * qkv[s * W + (2 * cfg.Heads + h) * HS + d];
                        Assert.Equal(atty[t * C + h * HS + d], y, 1e-4);
                    }
            }
        }
    }
}
