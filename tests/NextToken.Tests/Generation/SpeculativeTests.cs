// Speculative and prompt-lookup decoding: greedy output identical to the target's; sampled output distributed as the target's.
using NextToken.Generation;

namespace NextToken.Tests.Generation;

public sealed class SpeculativeTests
{
    [Fact]
    public void Speculative_Greedy_EqualsTargetGreedy()
    {
        var target = TinyModels.Gpt(1, vocab: 6, context: 24, layers: 2);
        var draft = TinyModels.Gpt(2, vocab: 6, context: 24, layers: 1);
        var g = new Generator(target, draft: draft);
        long drafted = 0, accepted = 0;
        foreach (var prompt in new[] { new[] { 0 }, new[] { 3, 1, 4 }, new[] { 5, 5, 2, 0, 1 } })
        {
            var expected = g.Generate(prompt, new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 16 }).Best.Tokens;
            for (int k = 1; k <= 5; k += 2)
            {
                var r = g.Generate(prompt, new GenerationOptions { Strategy = DecodingStrategy.Speculative, Temperature = 0, DraftTokens = k, MaxNewTokens = 16 });
                Assert.Equal(expected, r.Best.Tokens);
                drafted += r.DraftedTokens; accepted += r.AcceptedTokens;
            }
        }
        Assert.True(drafted > 0 && accepted > 0 && accepted < drafted, $"drafted {drafted}, accepted {accepted}: both paths must run");
    }

    [Fact]
    public void Speculative_DraftIsTarget_AcceptsEverything()
    {
        var target = TinyModels.Gpt(1, vocab: 6, context: 24, layers: 2);
        var r = new Generator(target, draft: target).Generate([2], new GenerationOptions { Strategy = DecodingStrategy.Speculative, Temperature = 0, DraftTokens = 4, MaxNewTokens = 20 });
        Assert.Equal(1.0, r.AcceptanceRate);
        Assert.True(r.TargetForwards <= 5, $"{r.TargetForwards} target forwards for 20 tokens");
    }

    [Fact]
    public void PromptLookup_Greedy_EqualsTargetGreedy()
    {
        var target = TinyModels.Gpt(4, vocab: 6, context: 32, layers: 2);
        var g = new Generator(target);
        int[] prompt = [1, 2, 3, 1, 2, 3, 1, 2];
        var expected = g.Generate(prompt, new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 20 }).Best.Tokens;
        var r = g.Generate(prompt, new GenerationOptions { Strategy = DecodingStrategy.PromptLookup, Temperature = 0, MaxNewTokens = 20 });
        Assert.Equal(expected, r.Best.Tokens);
        Assert.True(r.DraftedTokens > 0);
    }

    // First- and second-token marginals of the target's processed distribution, in double.
    private static (double[] First, double[] Second) TargetMarginals(NextToken.Model.ICausalLm target, int[] prompt, Func<double[], double[]> process)
    {
        int V = target.VocabSize;
        var logits = new float[V];
        target.Forward(target.CreateCache(), prompt, logits);
        var first = process(logits.Select(l => (double)l).ToArray());
        var second = new double[V];
        for (int a = 0; a < V; a++)
        {
            if (first[a] == 0) continue;
            target.Forward(target.CreateCache(), prompt.Append(a).ToArray(), logits);
            var next = process(logits.Select(l => (double)l).ToArray());
            for (int b = 0; b < V; b++) second[b] += first[a] * next[b];
        }
        return (first, second);
    }

    private static void AssertSampledMarginals(Generator g, int[] prompt, GenerationOptions options, Func<double[], double[]> process, int runs)
    {
        int V = g.Model.VocabSize;
        var (first, second) = TargetMarginals(g.Model, prompt, process);
        var c1 = new long[V];
        var c2 = new long[V];
        long drafted = 0, accepted = 0;
        for (int s = 0; s < runs; s++)
        {
            var r = g.Generate(prompt, options with { Seed = (ulong)s, MaxNewTokens = 3 });
            c1[r.Best.Tokens[0]]++;
            c2[r.Best.Tokens[1]]++;
            drafted += r.DraftedTokens; accepted += r.AcceptedTokens;
        }
        Assert.True(accepted > 0 && accepted < drafted, $"drafted {drafted}, accepted {accepted}: accept and reject must both occur");
        ChiSquare.AssertFits(c1, first);
        ChiSquare.AssertFits(c2, second);
    }

    [Fact]
    public void Speculative_Sampled_FirstAndSecondTokensFitTarget()
    {
        var target = TinyModels.Gpt(1, vocab: 6, context: 8, layers: 2);
        var draft = TinyModels.Gpt(2, vocab: 6, context: 8, layers: 1);
        AssertSampledMarginals(new Generator(target, draft: draft), [0, 3],
                               new GenerationOptions { Strategy = DecodingStrategy.Speculative, DraftTokens = 2 }, ChiSquare.Softmax, 6000);
    }

    [Fact]
    public void Speculative_SampledWithTemperatureAndTopK_FitsProcessedTarget()
    {
        var target = TinyModels.Gpt(1, vocab: 6, context: 8, layers: 2);
        var draft = TinyModels.Gpt(2, vocab: 6, context: 8, layers: 1);
        double[] Process(double[] l)
        {
            var scaled = l.Select(x => x / 0.7).ToArray();
            double fourth = scaled.OrderByDescending(x => x).ElementAt(3);
            return ChiSquare.Softmax(scaled.Select(x => x >= fourth ? x : double.NegativeInfinity).ToArray());
        }
        AssertSampledMarginals(new Generator(target, draft: draft), [4],
                               new GenerationOptions { Strategy = DecodingStrategy.Speculative, DraftTokens = 2, Temperature = 0.7f, TopK = 4 }, Process, 6000);
    }

    [Fact]
    public void PromptLookup_Sampled_FirstAndSecondTokensFitTarget()
    {
        var target = TinyModels.Gpt(6, vocab: 6, context: 12, layers: 1, initStd: 0.3f);
        AssertSampledMarginals(new Generator(target), [1, 2, 1, 2, 1],
                               new GenerationOptions { Strategy = DecodingStrategy.PromptLookup, DraftTokens = 2 }, ChiSquare.Softmax, 6000);
    }

    [Fact]
    public void Generator_DraftWithOtherVocabulary_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => new Generator(TinyModels.Gpt(1, vocab: 6), draft: TinyModels.Gpt(2, vocab: 7)));
        Assert.Contains("vocabulary", e.Message);
    }

    [Fact]
    public void Speculative_AdaptiveDraftLength_GreedyEqualsTargetAndSampledFitsTarget()
    {
        var target = TinyModels.Gpt(1, vocab: 6, context: 24, layers: 2);
        var g = new Generator(target, draft: target); // always accepted: the length grows to its cap
        var expected = g.Generate([3], new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 20 }).Best.Tokens;
        var r = g.Generate([3], new GenerationOptions { Strategy = DecodingStrategy.Speculative, Temperature = 0, DraftTokens = 1, AdaptiveDraftTokens = true, MaxNewTokens = 20 });
        Assert.Equal(expected, r.Best.Tokens);
        Assert.True(r.TargetForwards <= 6, $"{r.TargetForwards} target forwards: the draft length did not grow");
        var small = new Generator(TinyModels.Gpt(1, vocab: 6, context: 8, layers: 2), draft: TinyModels.Gpt(2, vocab: 6, context: 8, layers: 1));
        AssertSampledMarginals(small, [0, 3], new GenerationOptions { Strategy = DecodingStrategy.Speculative, DraftTokens = 2, AdaptiveDraftTokens = true }, ChiSquare.Softmax, 4000);
    }
}
