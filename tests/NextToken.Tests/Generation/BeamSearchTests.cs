// Beam search: with width ≥ the candidates it equals exhaustive search; width 1 is greedy; diverse groups diverge.
using NextToken.Generation;

namespace NextToken.Tests.Generation;

public sealed class BeamSearchTests
{
    private static List<(int[] Tokens, double LogProb)> Exhaustive(NextToken.Model.ICausalLm model, int[] prompt, int steps)
    {
        int V = model.VocabSize;
        var all = new List<(int[], double)>();
        int total = (int)Math.Pow(V, steps);
        for (int code = 0; code < total; code++)
        {
            var seq = new int[steps];
            for (int i = 0, c = code; i < steps; i++, c /= V) seq[i] = c % V;
            all.Add((seq, TinyModels.LogProbability(model, prompt.Concat(seq).ToArray(), prompt.Length)));
        }
        return all.OrderByDescending(x => x.Item2).ToList();
    }

    [Fact]
    public void Beam_WidthCoversAllPrefixes_EqualsExhaustiveSearch()
    {
        var model = TinyModels.Gpt(11, vocab: 5, context: 8);
        int[] prompt = [1, 3];
        var exact = Exhaustive(model, prompt, 3);
        // Width 25 = 5² keeps every two-token prefix alive, so the final step sees all 125 sequences.
        var result = new Generator(model).Generate(prompt, new GenerationOptions { Strategy = DecodingStrategy.Beam, Beams = 25, NumSequences = 5, MaxNewTokens = 3 });
        Assert.Equal(5, result.Sequences.Count);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(exact[i].Tokens, result.Sequences[i].Tokens);
            Assert.Equal(exact[i].LogProb / 3, result.Sequences[i].Score, 4); // length penalty 1: Σ log p / length
            Assert.Equal(exact[i].LogProb, result.Sequences[i].Logprobs.Sum(l => (double)l.Logprob), 4);
        }
    }

    [Fact]
    public void Beam_NarrowWidthOnOtherModels_NeverBeatsExhaustive()
    {
        for (ulong seed = 20; seed < 24; seed++)
        {
            var model = TinyModels.Gpt(seed, vocab: 5, context: 8);
            var exact = Exhaustive(model, [0], 3);
            var best = new Generator(model).Generate([0], new GenerationOptions { Strategy = DecodingStrategy.Beam, Beams = 3, MaxNewTokens = 3 }).Best;
            Assert.True(best.Score * 3 <= exact[0].LogProb + 1e-4);
            Assert.Equal(TinyModels.LogProbability(model, new[] { 0 }.Concat(best.Tokens).ToArray(), 1), best.Score * 3, 4);
        }
    }

    [Fact]
    public void Beam_WidthOne_EqualsGreedy()
    {
        var model = TinyModels.Gpt(5, vocab: 6, context: 16, layers: 2);
        var g = new Generator(model);
        var greedy = g.Generate([2, 4], new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 10 }).Best;
        var beam = g.Generate([2, 4], new GenerationOptions { Strategy = DecodingStrategy.Beam, Beams = 1, MaxNewTokens = 10 }).Best;
        Assert.Equal(greedy.Tokens, beam.Tokens);
    }

    [Fact]
    public void Beam_EndOfText_FinishesHypothesisWithLengthPenalty()
    {
        var model = TinyModels.Gpt(3, vocab: 5, context: 8);
        var g = new Generator(model) { EndOfTextId = 4 };
        var result = g.Generate([0], new GenerationOptions { Strategy = DecodingStrategy.Beam, Beams = 25, NumSequences = 25, MaxNewTokens = 3, LengthPenalty = 0.5f });
        // Exhaustive over sequences that stop at the first 4 (end-of-text) or run 3 tokens.
        var candidates = new List<(int[] Tokens, double Score)>();
        for (int code = 0; code < 125; code++)
        {
            var seq = new[] { code % 5, code / 5 % 5, code / 25 };
            int end = Array.IndexOf(seq, 4);
            var toks = end >= 0 ? seq[..(end + 1)] : seq;
            if (candidates.Any(c => c.Tokens.SequenceEqual(toks))) continue;
            candidates.Add((toks, TinyModels.LogProbability(model, new[] { 0 }.Concat(toks).ToArray(), 1) / Math.Pow(toks.Length, 0.5)));
        }
        var bestExact = candidates.MaxBy(c => c.Score);
        Assert.Equal(bestExact.Tokens, result.Best.Tokens);
        Assert.Equal(bestExact.Score, result.Best.Score, 4);
        Assert.Contains(result.Sequences, s => s.FinishReason == FinishReason.EndOfText && s.Tokens[^1] == 4);
        Assert.True(result.Sequences.Zip(result.Sequences.Skip(1)).All(p => p.First.Score >= p.Second.Score)); // n-best sorted
    }

    [Fact]
    public void DiverseBeam_StrongPenalty_GroupsStartDifferently()
    {
        var model = TinyModels.Gpt(9, vocab: 6, context: 16);
        var g = new Generator(model);
        var same = g.Generate([1], new GenerationOptions { Strategy = DecodingStrategy.Beam, Beams = 2, BeamGroups = 2, DiversityPenalty = 0, NumSequences = 2, MaxNewTokens = 5 });
        Assert.Equal(same.Sequences[0].Tokens, same.Sequences[1].Tokens); // without the penalty both groups find the same beam
        var diverse = g.Generate([1], new GenerationOptions { Strategy = DecodingStrategy.Beam, Beams = 2, BeamGroups = 2, DiversityPenalty = 100, NumSequences = 2, MaxNewTokens = 5 });
        Assert.NotEqual(diverse.Sequences[0].Tokens[0], diverse.Sequences[1].Tokens[0]);
    }

    [Fact]
    public void Beam_TopLogprobs_AreTheRawDistributionAtEachPosition()
    {
        var model = TinyModels.Gpt(31, vocab: 6, context: 16);
        var best = new Generator(model).Generate([2], new GenerationOptions { Strategy = DecodingStrategy.Beam, Beams = 3, MaxNewTokens = 5, TopLogprobs = 2 }).Best;
        for (int i = 0; i < best.Tokens.Count; i++)
        {
            var dist = TinyModels.NextDistribution(model, new[] { 2 }.Concat(best.Tokens.Take(i)).ToArray());
            var top = best.Logprobs[i].TopLogprobs;
            Assert.Equal(2, top.Count);
            Assert.Equal(Enumerable.Range(0, 6).OrderByDescending(t => dist[t]).Take(2), top.Select(t => t.Token));
            Assert.Equal(Math.Log(dist[top[1].Token]), top[1].Logprob, 4);
            Assert.Equal(Math.Log(dist[best.Tokens[i]]), best.Logprobs[i].Logprob, 4);
        }
    }
}
