// Accounting: counts against the released models, closed forms and the materialised model; FLOPs against the model's
// own linear layers, a brute-force count of causal attention and the multiply-adds counted inside the kernels
// (KernelCounters); activations against the model's arenas.
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Model.Blocks;
using NextToken.Scaling;
using NextToken.Tests.Cli;

namespace NextToken.Tests.Scaling;

public sealed class ScalingAccountingTests
{
    private static readonly GptConfig[] TinyConfigs =
    [
        GptPresets.Get("test"),
        GptPresets.Get("test") with { Norm = NormPlacement.Post, TiedEmbeddings = false },
        new GptConfig { VocabSize = 41, ContextLength = 12, Layers = 3, Heads = 4, KvHeads = 2, EmbeddingSize = 24, Mlp = MlpKind.SwiGlu, MlpHiddenSize = 40,
                        NormKind = NormKind.RmsNorm, Positions = PositionEncoding.Rotary, Bias = false },
        GptPresets.Get("test") with { Dropout = 0.1f },
    ];

    [Theory]
    [InlineData("gpt2", 124_439_808L)]
    [InlineData("gpt2-medium", 354_823_168L)]
    [InlineData("gpt2-large", 774_030_080L)]
    [InlineData("gpt2-xl", 1_557_611_200L)]
    [InlineData("gpt1", 116_534_784L)]
    public void Count_ReleasedModels_AreExact(string preset, long expected) =>
        Assert.Equal(expected, ScalingAccounting.Count(GptPresets.Get(preset)).Parameters);

    [Fact]
    public void Count_Gpt3Table_WithinTwoPercentOfThePaper()
    {
        foreach (var row in PublishedTables.Gpt3)
        {
            double rel = ScalingAccounting.Count(GptPresets.Get(row.Preset)).Parameters / row.PaperParameters - 1;
            Assert.True(Math.Abs(rel) < 0.02, $"{row.Name}: {rel:P2}");
        }
        Assert.Equal(2, PublishedTables.Gpt3.Count(r => r.Note is not null)); // the XL heads and the 13B width are both noted
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("gpt3-175b")]
    [InlineData("gpt2-xl")]
    public void NonEmbedding_GptShapes_MatchTheClosedForm(string preset)
    {
        // Per block: two LayerNorms 4C, q/k/v 3C² + 3C, output C² + C, MLP 8C² + 5C = 12C² + 13C; then the final LayerNorm 2C.
        var cfg = GptPresets.Get(preset);
        long C = cfg.EmbeddingSize;
        var c = ScalingAccounting.Count(cfg);
        Assert.Equal(cfg.Layers * (12 * C * C + 13 * C) + 2 * C, c.NonEmbeddingParameters);
        Assert.Equal(6.0 * c.NonEmbeddingParameters, c.FlopsPerToken6N);
        Assert.Equal(c.FlopsPerToken6N + 6.0 * cfg.Layers * cfg.ContextLength * C, c.FlopsPerTokenKaplan);
    }

    [Fact]
    public void Count_TinyModels_EqualTheMaterialisedArena()
    {
        foreach (var cfg in TinyConfigs)
        {
            var model = new GptModel(cfg, 1);
            long arena = model.Layout.Slots.Sum(s => GptParameters.RealLength(cfg, s));
            Assert.Equal(arena, ScalingAccounting.Count(cfg).Parameters);
            Assert.Equal(model.ParameterCount, ScalingAccounting.Count(cfg).Parameters);
        }
    }

    [Fact]
    public void FlopsPerToken_TinyModels_EqualTheModelsOwnProducts()
    {
        foreach (var cfg in TinyConfigs)
        {
            var model = new GptModel(cfg, 1);
            foreach (int T in new[] { 1, 5, cfg.ContextLength })
            {
                // Multiply-adds of one sequence: every linear layer the model has, once per token; the LM head (V real rows);
                // causal attention: query t meets keys 0..t, HS multiply-adds for its score and HS for the weighted value, per head.
                double linears = model.Linears.Sum(l => (double)l.In * l.Out) * T;
                double head = (double)cfg.VocabSize * cfg.EmbeddingSize * T;
                double attention = 0;
                foreach (var block in model.Blocks)
                    for (int t = 0; t < T; t++)
                        for (int s = 0; s <= t; s++) attention += 2.0 * block.Attention.Heads * block.Attention.HeadSize;
                double perToken = (linears + head + attention) / T;
                Assert.Equal(perToken, ScalingAccounting.MultiplyAddsPerToken(cfg, T), 6);
                Assert.Equal(6 * perToken, ScalingAccounting.Count(cfg, T).FlopsPerToken, 6);
            }
        }
    }

    [Fact]
    public void FlopsPerToken_EqualTheMultiplyAddsCountedInTheKernels()
    {
        foreach (var cfg in TinyConfigs)
        {
            var model = new GptModel(cfg, 1);
            int B = 2, T = cfg.ContextLength, N = B * T;
            var rng = new Random(7);
            int[] inputs = [.. Enumerable.Range(0, N).Select(_ => rng.Next(cfg.VocabSize))];
            int[] targets = [.. Enumerable.Range(0, N).Select(_ => rng.Next(cfg.VocabSize))];
            KernelCounters.Enabled = true;
            try
            {
                KernelCounters.Reset();
                model.Forward(inputs, targets, B, T);
                long mmF = KernelCounters.MatmulForward, attF = KernelCounters.AttentionForward;
                Assert.Equal(0, KernelCounters.MatmulBackward + KernelCounters.AttentionBackward);
                Assert.Equal(ScalingAccounting.MultiplyAddsPerToken(cfg, T) * N, mmF + attF);

                KernelCounters.Reset();
                model.Forward(inputs, targets, B, T, computeGradients: true);
                model.Backward();
                Assert.Equal(mmF, KernelCounters.MatmulForward);
                Assert.Equal(attF, KernelCounters.AttentionForward);
                // Every weight is trainable and every layer's input needs its gradient: dinp and dweight, 2x the forward.
                Assert.Equal(2 * mmF, KernelCounters.MatmulBackward);
                // Flash-style backward: the score recomputed, dP, dV, dQ, dK per pair (2.5x the forward's 2) and dOut.Out per row.
                Assert.Equal(attF * 5 / 2 + (long)cfg.Layers * N * cfg.Heads * cfg.HeadSize, KernelCounters.AttentionBackward);
                // The 6N-style convention (backward = 2 x forward) is exact for the matmuls; attention's backward costs 2.5x.
                Assert.Equal(ScalingAccounting.Count(cfg, T).FlopsPerToken * N, 2.0 * (mmF + KernelCounters.MatmulBackward + 3 * attF), 3);

                // Packed documents: attention counts only the pairs inside each document.
                int[] docs = [.. Enumerable.Range(0, N).Select(i => (i % T) < T / 3 ? 0 : 1)];
                KernelCounters.Reset();
                model.Forward(inputs, targets, B, T, extras: new BatchLayout { DocumentIds = docs });
                long pairs = 0;
                for (int b = 0; b < B; b++)
                    for (int t = 0; t < T; t++)
                    {
                        int s = t;
                        while (s > 0 && docs[b * T + s - 1] == docs[b * T + t]) s--;
                        pairs += t - s + 1;
                    }
                Assert.Equal(pairs * cfg.Layers * cfg.Heads * 2L * cfg.HeadSize, KernelCounters.AttentionForward);
                Assert.Equal(mmF, KernelCounters.MatmulForward);
            }
            finally { KernelCounters.Enabled = false; }
        }
    }

    [Fact]
    public void ChinchillaFlops_Tiny_MatchesAppendixFByHand()
    {
        // test preset: V 37, C 16, L 2, NH 2 (HS 8), F 64, T 16.
        var cfg = GptPresets.Get("test");
        double T = 16, V = 37, C = 16, F = 64;
        double forward = 2 * T * V * C
                         + 2 * (2 * T * 3 * C * C + 2 * T * T * C + 3 * 2 * T * T + 2 * T * T * C + 2 * T * C * C + 2 * T * (C * F + F * C))
                         + 2 * T * C * V;
        Assert.Equal(3 * forward / T, ScalingAccounting.ChinchillaFlopsPerToken(cfg, 16), 6);
    }

    [Fact]
    public void ActivationFloats_TinyModels_MatchTheModelsArenas()
    {
        foreach (var cfg in TinyConfigs)
            foreach (var (B, T) in new[] { (1, 1), (2, 5), (3, cfg.ContextLength) })
            {
                var acts = new GptActivations(cfg, B, T, cfg.Dropout > 0);
                var back = new BackwardBuffers(cfg, B * T);
                long arenas = acts.Layout.Size + back.Layout.Size;
                long ours = ScalingAccounting.ActivationFloats(cfg, B, T);
                int slots = acts.Layout.Slots.Count + back.Layout.Slots.Count;
                // The arenas align every tensor to 16 floats; the count leaves that padding out.
                Assert.InRange(arenas - ours, 0, 15L * slots);
            }
    }

    [Fact]
    public void Memory_Gpt2_IsSixteenBytesPerParameterPlusActivations()
    {
        var c = ScalingAccounting.Count(GptPresets.Get("gpt2"), 64, 4);
        Assert.Equal(16 * c.Parameters + 4 * c.ActivationFloats, c.TrainMemoryBytes);
        Assert.Equal(4 * c.Parameters, c.InferenceWeightsBytes);
        Assert.Equal(2L * 12 * 768 * 4, c.KvCacheBytesPerToken); // keys and values, 12 layers, 768 wide, fp32
        var smol = ScalingAccounting.Count(GptPresets.Get("smollm2-135m"));
        Assert.Equal(2L * 30 * 3 * 64 * 2, smol.KvCacheBytesPerToken16); // 3 key/value heads of 64
    }

    [Fact]
    public void CountCommand_Json_HasTheContractKeys()
    {
        var r = CliProcess.Run("scaling", "count", "--preset", "gpt2", "--seq", "64", "--batch", "4", "--json");
        Assert.True(r.Exit == 0, r.Err);
        var j = CliProcess.LastJson(r.Out).RootElement;
        Assert.Equal(124_439_808, j.GetProperty("params").GetInt64());
        Assert.Equal(85_056_000, j.GetProperty("non_embedding_params").GetInt64());
        Assert.Equal(6.0 * 85_056_000, j.GetProperty("flops_per_token_6n").GetDouble());
        Assert.True(j.GetProperty("flops_per_token").GetDouble() > 0);
        Assert.True(j.GetProperty("train_memory_bytes").GetInt64() > 16L * 124_439_808);
    }

    [Fact]
    public void CountCommand_Table_Gpt3JsonRowsWithinTwoPercent()
    {
        var r = CliProcess.Run("scaling", "count", "--table", "gpt3", "--json");
        Assert.True(r.Exit == 0, r.Err);
        var rows = CliProcess.LastJson(r.Out).RootElement.GetProperty("rows");
        Assert.Equal(8, rows.GetArrayLength());
        foreach (var row in rows.EnumerateArray()) Assert.InRange(row.GetProperty("relative_difference").GetDouble(), -0.02, 0.02);
    }

    [Fact]
    public void CountCommand_BadInput_OneLineErrors()
    {
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "count", "--table", "gpt4"), "unknown table 'gpt4'");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "count", "--seq", "0"), "--seq");
        CliProcess.AssertOneLineError(CliProcess.Run("scaling", "count", "--heads", "5"), "must divide");
    }
}
