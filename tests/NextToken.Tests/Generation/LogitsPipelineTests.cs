// Logits processors: the processed logits equal each processor's analytic definition, and samples drawn after them
// fit the analytic distribution by a chi-square test at significance 0.001 (fixed seeds: deterministic).
using NextToken.Generation;
using NextToken.Tensors;

namespace NextToken.Tests.Generation;

public sealed class LogitsPipelineTests
{
    private static readonly float[] Logits = [2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -2.0f];
    private const int Draws = 20_000;

    private static double[] L => Logits.Select(l => (double)l).ToArray();

    /// <summary>Runs the pipeline once (exact check) and samples Draws times (chi-square check).</summary>
    private static void AssertDistribution(GenerationOptions options, double[] expected, int[]? sequence = null, int promptLength = 0, int? endOfText = null, ulong seed = 42)
    {
        sequence ??= [];
        var pipeline = new LogitsPipeline(Logits.Length, options, endOfText);
        var work = new float[Logits.Length];
        Logits.CopyTo(work, 0);
        pipeline.Apply(work, sequence, promptLength);
        var actual = ChiSquare.Softmax(work.Select(l => (double)l).ToArray());
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);

        var rng = new Rng(seed);
        var counts = new long[Logits.Length];
        for (int d = 0; d < Draws; d++)
        {
            Logits.CopyTo(work, 0);
            pipeline.Apply(work, sequence, promptLength);
            counts[Sampling.Sample(work, ref rng)]++;
        }
        ChiSquare.AssertFits(counts, expected);
    }

    private static double[] Keep(double[] logits, Func<int, bool> keep) =>
        ChiSquare.Softmax(logits.Select((l, i) => keep(i) ? l : double.NegativeInfinity).ToArray());

    [Fact]
    public void Sample_NoProcessors_FitsSoftmax() => AssertDistribution(new GenerationOptions(), ChiSquare.Softmax(L));

    [Fact]
    public void Temperature_Scales_FitsSoftmaxOfScaledLogits() =>
        AssertDistribution(new GenerationOptions { Temperature = 0.7f }, ChiSquare.Softmax(L.Select(l => l / 0.7).ToArray()));

    [Fact]
    public void ChiSquare_WrongDistribution_IsRejected()
    {
        // The test has power: samples at temperature 1 do not pass as samples at temperature 0.7.
        var rng = new Rng(42);
        var counts = new long[Logits.Length];
        for (int d = 0; d < Draws; d++) counts[Sampling.Sample(Logits, ref rng)]++;
        Assert.True(ChiSquare.Passes(counts, ChiSquare.Softmax(L)));
        Assert.False(ChiSquare.Passes(counts, ChiSquare.Softmax(L.Select(l => l / 0.7).ToArray())));
    }

    [Fact]
    public void TopK_Three_KeepsThreeLargest() => AssertDistribution(new GenerationOptions { TopK = 3 }, Keep(L, i => i < 3));

    [Fact]
    public void TopP_PointEight_KeepsSmallestSetReachingP()
    {
        var p = ChiSquare.Softmax(L);
        // Sorted already (logits decrease): keep token i while the mass before it is < 0.8.
        double before = 0;
        var keep = new bool[p.Length];
        for (int i = 0; i < p.Length; i++) { keep[i] = before < 0.8; before += p[i]; }
        Assert.Contains(false, keep);
        AssertDistribution(new GenerationOptions { TopP = 0.8f }, Keep(L, i => keep[i]));
    }

    [Fact]
    public void MinP_PointTwo_KeepsTokensAboveScaledMax()
    {
        var p = ChiSquare.Softmax(L);
        AssertDistribution(new GenerationOptions { MinP = 0.2f }, Keep(L, i => p[i] >= 0.2 * p.Max()));
    }

    [Fact]
    public void TypicalP_PointSix_KeepsTokensClosestToEntropy()
    {
        var p = ChiSquare.Softmax(L);
        double h = -p.Sum(x => x * Math.Log(x));
        var order = Enumerable.Range(0, p.Length).OrderBy(i => Math.Abs(-Math.Log(p[i]) - h)).ToArray();
        var keep = new bool[p.Length];
        double before = 0;
        foreach (int i in order) { keep[i] = before < 0.6; before += p[i]; }
        Assert.Contains(false, keep);
        AssertDistribution(new GenerationOptions { TypicalP = 0.6f }, Keep(L, i => keep[i]));
    }

    [Fact]
    public void EpsilonCutoff_DropsTokensBelowEpsilon()
    {
        var p = ChiSquare.Softmax(L);
        AssertDistribution(new GenerationOptions { EpsilonCutoff = 0.05f }, Keep(L, i => p[i] >= 0.05));
    }

    [Fact]
    public void EtaCutoff_DropsTokensBelowEntropyScaledEta()
    {
        var p = ChiSquare.Softmax(L);
        double h = -p.Sum(x => x * Math.Log(x));
        double eta = Math.Min(0.2, Math.Sqrt(0.2) * Math.Exp(-h));
        Assert.True(eta < 0.2); // the entropy term is the active one
        AssertDistribution(new GenerationOptions { EtaCutoff = 0.2f }, Keep(L, i => p[i] >= eta));
    }

    [Fact]
    public void RepetitionPenalty_SeenTokens_PositiveDividedNegativeMultiplied()
    {
        var l = L;
        l[0] /= 1.5; l[5] *= 1.5;
        AssertDistribution(new GenerationOptions { RepetitionPenalty = 1.5f }, ChiSquare.Softmax(l), sequence: [0, 5, 0], promptLength: 2);
    }

    [Fact]
    public void PresenceFrequency_GeneratedTokens_SubtractCountAndPresence()
    {
        var l = L;
        l[1] -= 2 * 0.3 + 0.5; l[3] -= 1 * 0.3 + 0.5; // token 7 is in the prompt only: untouched
        AssertDistribution(new GenerationOptions { PresencePenalty = 0.5f, FrequencyPenalty = 0.3f }, ChiSquare.Softmax(l), sequence: [7, 1, 1, 3], promptLength: 1);
    }

    [Fact]
    public void NoRepeatNgram_Two_BansCompletionOfSeenBigram() =>
        AssertDistribution(new GenerationOptions { NoRepeatNgramSize = 2 }, Keep(L, i => i != 2 && i != 6), sequence: [4, 2, 7, 4, 6, 5, 4]);

    [Fact]
    public void BannedSequences_MatchingPrefix_BansLastToken() =>
        AssertDistribution(new GenerationOptions { BannedSequences = [[7, 4, 3], [6], [1, 0]] }, Keep(L, i => i != 3 && i != 6), sequence: [2, 7, 4]);

    [Fact]
    public void LogitBias_AddsBias()
    {
        var l = L;
        l[7] += 3; l[0] -= 100;
        AssertDistribution(new GenerationOptions { LogitBias = new Dictionary<int, float> { [7] = 3f, [0] = -100f } }, ChiSquare.Softmax(l));
    }

    [Fact]
    public void MinNewTokens_BeforeMinimum_BansEndOfText()
    {
        AssertDistribution(new GenerationOptions { MinNewTokens = 2 }, Keep(L, i => i != 0), sequence: [3, 4], promptLength: 1, endOfText: 0);
        AssertDistribution(new GenerationOptions { MinNewTokens = 2 }, ChiSquare.Softmax(L), sequence: [3, 4, 5], promptLength: 1, endOfText: 0);
    }

    [Fact]
    public void Composed_DefaultOrder_EqualsAnalyticChain()
    {
        // Repetition penalty (token 0 seen) → temperature 0.8 → top-k 5 → top-p 0.9 → min-p 0.1, as DefaultOrder lists them.
        var l = L;
        l[0] /= 1.3;
        l = l.Select(x => x / 0.8).ToArray();
        var k = Keep(l, i => i < 5);
        var sorted = Enumerable.Range(0, 8).OrderByDescending(i => k[i]).ToArray();
        var keep = new bool[8];
        double before = 0;
        foreach (int i in sorted) { keep[i] = k[i] > 0 && before < 0.9; before += k[i]; }
        var afterP = Keep(l, i => keep[i]);
        var final = Keep(l, i => keep[i] && afterP[i] >= 0.1 * afterP.Max());
        AssertDistribution(new GenerationOptions { RepetitionPenalty = 1.3f, Temperature = 0.8f, TopK = 5, TopP = 0.9f, MinP = 0.1f }, final, sequence: [0], promptLength: 1);
    }

    [Fact]
    public void Composed_TopPBeforeTopK_DiffersFromDefaultOrder()
    {
        // Top-p 0.95 over all 8 tokens, then top-k 2: the order changes which filter sees which distribution.
        var p = ChiSquare.Softmax(L);
        double before = 0;
        var keep = new bool[8];
        for (int i = 0; i < 8; i++) { keep[i] = before < 0.95; before += p[i]; }
        var expected = Keep(L, i => keep[i] && i < 2);
        var order = new[] { LogitsStage.TopP, LogitsStage.TopK };
        AssertDistribution(new GenerationOptions { TopK = 2, TopP = 0.95f, ProcessorOrder = order }, expected);
    }

    [Fact]
    public void Apply_SteadyState_AllocatesNothing()
    {
        var o = new GenerationOptions { RepetitionPenalty = 1.2f, PresencePenalty = 0.3f, FrequencyPenalty = 0.2f, NoRepeatNgramSize = 3, Temperature = 0.9f,
                                        TopK = 6, TopP = 0.9f, MinP = 0.01f, TypicalP = 0.95f, EpsilonCutoff = 1e-4f, EtaCutoff = 1e-4f,
                                        BannedSequences = [[1, 2]], LogitBias = new Dictionary<int, float> { [3] = 0.5f }, MinNewTokens = 1 };
        var pipeline = new LogitsPipeline(Logits.Length, o, 0);
        var work = new float[Logits.Length];
        int[] seq = [1, 2, 3, 1, 2, 4, 5];
        var rng = new Rng(1);
        for (int i = 0; i < 10; i++) { Logits.CopyTo(work, 0); pipeline.Apply(work, seq, 2); Sampling.Sample(work, ref rng); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) { Logits.CopyTo(work, 0); pipeline.Apply(work, seq, 2); Sampling.Sample(work, ref rng); }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(-0.5f, 1f, 1, "temperature")]
    [InlineData(1f, 0f, 1, "top-p")]
    [InlineData(1f, 1.5f, 1, "top-p")]
    [InlineData(1f, 1f, 0, "beams")]
    public void Validate_BadOption_ThrowsNamingIt(float temperature, float topP, int beams, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => new GenerationOptions { Temperature = temperature, TopP = topP, Beams = beams }.Validate());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Pipeline_BiasOutsideVocabulary_Throws() =>
        Assert.Throws<ArgumentException>(() => new LogitsPipeline(8, new GenerationOptions { LogitBias = new Dictionary<int, float> { [8] = 1f } }, null));

    [Theory]
    [InlineData(1, 1f)]
    [InlineData(7, 1f)]
    [InlineData(100, 1f)]
    [InlineData(0, 0.5f)]
    [InlineData(0, 0.9f)]
    [InlineData(0, 0.99f)]
    [InlineData(0, 0.999f)]
    public void TopKTopP_LargeVocabulary_KeepExactlyTheReferenceSet(int k, float p)
    {
        // Heap top-k and the probability-floor shortcut of top-p against a plain full sort.
        const int V = 5000;
        var rng = new Rng(3);
        var logits = new float[V];
        rng.FillNormal(logits, 0, 4);
        var probs = ChiSquare.Softmax(logits.Select(l => (double)l).ToArray());
        var order = Enumerable.Range(0, V).OrderByDescending(i => probs[i]).ToArray();
        var expected = new HashSet<int>();
        double before = 0;
        for (int j = 0; j < V; j++)
        {
            bool keep = k > 0 ? j < k : before < p;
            if (keep) expected.Add(order[j]);
            before += probs[order[j]];
        }
        var work = (float[])logits.Clone();
        new LogitsPipeline(V, new GenerationOptions { TopK = k, TopP = p }, null).Apply(work, [], 0);
        var kept = Enumerable.Range(0, V).Where(i => work[i] > float.NegativeInfinity).ToHashSet();
        Assert.True(expected.SetEquals(kept), $"kept {kept.Count} tokens, expected {expected.Count}");
        Assert.InRange(kept.Count, 1, V - 1);
    }

    [Theory]
    [InlineData(1e-38f)] // 2e38 fits a float; 1/T also does
    [InlineData(1e-39f)] // 1/T overflows to +∞
    [InlineData(1e-30f)] // logit / T overflows to +∞
    public void Temperature_Tiny_SamplesTheArgmaxWithoutNaN(float temperature)
    {
        var pipeline = new LogitsPipeline(Logits.Length, new GenerationOptions { Temperature = temperature, TopP = 0.9f }, null);
        var work = (float[])Logits.Clone();
        pipeline.Apply(work, [], 0);
        Assert.DoesNotContain(work, float.IsNaN);
        var rng = new Rng(5);
        for (int i = 0; i < 100; i++) Assert.Equal(0, Sampling.Sample(work, ref rng));
    }
}
