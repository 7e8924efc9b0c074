// Generator: golden greedy output, seeds, batched prompts, contrastive search, context limits, cancellation.
using System.Numerics.Tensors;
using NextToken.Generation;

namespace NextToken.Tests.Generation;

public sealed class GeneratorTests
{
    [Fact]
    public void Greedy_FixedSeedTinyModel_EqualsStoredString()
    {
        // Golden output (llama2.c's test): a change in the model or the generator that alters greedy text shows here.
        var model = TinyModels.Gpt(7, vocab: 6, context: 24, layers: 2, embd: 16);
        var g = new Generator(model, TinyModels.Chars());
        var r = g.Generate("ab", new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 16 });
        Assert.Equal(GoldenText, r.Best.Text);
        Assert.Equal(FinishReason.Length, r.Best.FinishReason);
    }

    private const string GoldenText = "ccccccccccceeccc";

    [Fact]
    public void Sample_SameSeed_SameText_OtherSeedOtherText()
    {
        var model = TinyModels.Gpt(8, vocab: 6, context: 32, layers: 2, initStd: 0.3f);
        var g = new Generator(model, TinyModels.Chars());
        var o = new GenerationOptions { MaxNewTokens = 24, Seed = 5 };
        Assert.Equal(g.Generate("a", o).Best.Text, g.Generate("a", o).Best.Text);
        Assert.NotEqual(g.Generate("a", o).Best.Text, g.Generate("a", o with { Seed = 6 }).Best.Text);
    }

    [Theory]
    [InlineData(DecodingStrategy.Sample)]
    [InlineData(DecodingStrategy.Speculative)]
    [InlineData(DecodingStrategy.PromptLookup)]
    public void SampledStrategies_SameSeed_SameTokens(DecodingStrategy strategy)
    {
        var g = new Generator(TinyModels.Gpt(8, vocab: 6, context: 32, layers: 2, initStd: 0.3f), draft: TinyModels.Gpt(9, vocab: 6, context: 32, initStd: 0.3f));
        var o = new GenerationOptions { Strategy = strategy, MaxNewTokens = 24, Seed = 11, NumSequences = 3 };
        var a = g.Generate([1, 2, 1, 2], o);
        var b = g.Generate([1, 2, 1, 2], o);
        for (int i = 0; i < 3; i++) Assert.Equal(a.Sequences[i].Tokens, b.Sequences[i].Tokens);
        Assert.NotEqual(a.Sequences[0].Tokens, a.Sequences[1].Tokens); // sequence i uses seed + i
    }

    [Theory]
    [InlineData(DecodingStrategy.Greedy)]
    [InlineData(DecodingStrategy.Sample)]
    public void GenerateBatch_PromptsOfDifferentLengths_EqualOneAtATime(DecodingStrategy strategy)
    {
        var model = TinyModels.Gpt(9, vocab: 6, context: 24, layers: 2, initStd: 0.3f);
        var g = new Generator(model);
        int[][] prompts = [[1], [2, 3, 4], [5, 0, 1, 2, 3, 4, 5]];
        var o = new GenerationOptions { Strategy = strategy, MaxNewTokens = 12, NumSequences = 2, Seed = 77, TopLogprobs = 2 };
        var batch = g.GenerateBatch(prompts, o);
        for (int p = 0; p < prompts.Length; p++)
        {
            var single = g.Generate(prompts[p], o);
            for (int s = 0; s < 2; s++)
            {
                Assert.Equal(single.Sequences[s].Tokens, batch[p].Sequences[s].Tokens);
                Assert.Equal(single.Sequences[s].Logprobs.Select(l => l.Logprob), batch[p].Sequences[s].Logprobs.Select(l => l.Logprob));
            }
        }
    }

    [Fact]
    public void Logprobs_ChosenAndTop_AreRawModelLogSoftmax()
    {
        var model = TinyModels.Gpt(10, vocab: 6, context: 16);
        var r = new Generator(model).Generate([1, 2], new GenerationOptions { MaxNewTokens = 4, TopLogprobs = 3, Temperature = 0.5f });
        var tokens = r.Best.Tokens;
        for (int i = 0; i < tokens.Count; i++)
        {
            var dist = TinyModels.NextDistribution(model, new[] { 1, 2 }.Concat(tokens.Take(i)).ToArray());
            var lp = r.Best.Logprobs[i];
            Assert.Equal(Math.Log(dist[tokens[i]]), lp.Logprob, 4);
            Assert.Equal(3, lp.TopLogprobs.Count);
            var best3 = Enumerable.Range(0, 6).OrderByDescending(t => dist[t]).Take(3).ToArray();
            Assert.Equal(best3, lp.TopLogprobs.Select(t => t.Token));
            Assert.Equal(Math.Log(dist[best3[0]]), lp.TopLogprobs[0].Logprob, 4);
        }
    }

    [Fact]
    public void Contrastive_EqualsNaiveReferenceOfSuEtAl()
    {
        var model = TinyModels.Gpt(12, vocab: 6, context: 16, layers: 2, initStd: 0.25f);
        int[] prompt = [1, 4, 2];
        const int k = 3, steps = 8;
        const float alpha = 0.6f;
        var r = new Generator(model).Generate(prompt, new GenerationOptions { Strategy = DecodingStrategy.Contrastive, ContrastiveTopK = k, ContrastiveAlpha = alpha, MaxNewTokens = steps });

        // Reference: recompute every hidden state from scratch for each candidate.
        float[] Hidden(int[] seq)
        {
            var h = new float[model.HiddenSize];
            model.Forward(model.CreateCache(), seq, new float[model.VocabSize], lastHidden: h);
            return h;
        }
        var text = prompt.ToList();
        for (int step = 0; step < steps; step++)
        {
            var p = TinyModels.NextDistribution(model, text.ToArray());
            var history = Enumerable.Range(1, text.Count).Select(n => Hidden(text.Take(n).ToArray())).ToArray();
            int best = Enumerable.Range(0, 6).OrderByDescending(t => p[t]).Take(k)
                .MaxBy(v =>
                {
                    var hv = Hidden(text.Append(v).ToArray());
                    return (1 - alpha) * p[v] - alpha * history.Max(h => TensorPrimitives.CosineSimilarity(hv, h));
                });
            text.Add(best);
        }
        Assert.Equal(text.Skip(prompt.Length), r.Best.Tokens);
        var greedy = new Generator(model).Generate(prompt, new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = steps }).Best.Tokens;
        Assert.NotEqual(greedy, r.Best.Tokens); // the penalty changed something, so the test compares real choices
    }

    [Fact]
    public void Contrastive_AlphaZero_EqualsGreedy()
    {
        var model = TinyModels.Gpt(12, vocab: 6, context: 16, layers: 2);
        var g = new Generator(model);
        var greedy = g.Generate([3], new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 10 }).Best.Tokens;
        Assert.Equal(greedy, g.Generate([3], new GenerationOptions { Strategy = DecodingStrategy.Contrastive, ContrastiveAlpha = 0, MaxNewTokens = 10 }).Best.Tokens);
    }

    [Theory]
    [InlineData(DecodingStrategy.Beam)]
    [InlineData(DecodingStrategy.PromptLookup)]
    public void Generate_ContextFills_StopsWithLength(DecodingStrategy strategy) // greedy, sampling, contrastive slide: ContextShiftTests
    {
        var model = TinyModels.Gpt(13, vocab: 6, context: 8);
        var r = new Generator(model).Generate([1, 2, 3, 1, 2], new GenerationOptions { Strategy = strategy, Temperature = 0, MaxNewTokens = 50 });
        Assert.Equal(FinishReason.Length, r.Best.FinishReason);
        Assert.Equal(4, r.Best.Tokens.Count); // 5 prompt tokens + 3 fill the 8 positions; the 4th new token needs no position
    }

    [Fact]
    public void Generate_PromptLongerThanContext_KeepsLastTokens()
    {
        var model = TinyModels.Gpt(13, vocab: 6, context: 8);
        var r = new Generator(model).Generate(Enumerable.Range(0, 12).Select(i => i % 6).ToArray(), new GenerationOptions { MaxNewTokens = 3 });
        Assert.True(r.PromptTruncated);
        Assert.Equal(new[] { 4, 5, 0, 1, 2, 3, 4, 5 }, r.PromptTokens);
    }

    [Fact]
    public void Generate_PromptIdOutOfRange_Throws()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Generator(TinyModels.Gpt(1)).Generate([1, 6], new GenerationOptions()));
        Assert.Contains("outside the vocabulary", e.Message);
    }

    [Fact]
    public void Generate_EmptyPrompt_StartsFromStartToken()
    {
        var tok = TinyModels.Chars();
        var g = new Generator(TinyModels.Gpt(1), tok);
        Assert.Equal(0, g.StartToken); // no end-of-text in a character vocabulary: the newline (id 0 here)
        var r = g.Generate("", new GenerationOptions { MaxNewTokens = 2 });
        Assert.Equal(new[] { 0 }, r.PromptTokens);
        Assert.Equal(7, new Generator(TinyModels.Gpt(1, vocab: 8)) { EndOfTextId = 7 }.StartToken);
    }

    [Fact]
    public void Generate_Cancelled_StopsEarlyWithCancelled()
    {
        var model = TinyModels.Gpt(14, vocab: 6, context: 64);
        using var cts = new CancellationTokenSource();
        int pieces = 0;
        var r = new Generator(model, TinyModels.Chars()).Generate("a", new GenerationOptions { MaxNewTokens = 50 }, _ => { if (++pieces == 3) cts.Cancel(); }, cts.Token);
        Assert.Equal(FinishReason.Cancelled, r.Best.FinishReason);
        Assert.InRange(r.Best.Tokens.Count, 3, 4);
    }

    [Fact]
    public async Task StreamAsync_Cancelled_ThrowsOperationCanceled()
    {
        var model = TinyModels.Gpt(14, vocab: 6, context: 64);
        using var cts = new CancellationTokenSource();
        var received = new List<string>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var piece in new Generator(model, TinyModels.Chars()).StreamAsync("a", new GenerationOptions { MaxNewTokens = 60 }, cts.Token))
            {
                received.Add(piece);
                if (received.Count == 2) cts.Cancel();
            }
        });
        Assert.InRange(received.Count, 2, 60);
    }
}
