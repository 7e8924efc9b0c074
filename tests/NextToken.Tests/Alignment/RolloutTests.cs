// RolloutSampler against one-sequence-at-a-time greedy decoding and the model's own distribution; SequenceBatch's layout
// on a hand-made example.
using NextToken.Alignment;
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tests.Generation;

namespace NextToken.Tests.Alignment;

public sealed class RolloutTests
{
    private const int End = 0;

    [Fact]
    public void Sample_NearZeroTemperature_EqualsGreedyDecodingOneSequenceAtATime()
    {
        // Init std 0.5: sharp distributions, so argmaxes are clear and τ = 1e-6 puts all mass on them.
        var model = TinyModels.Gpt(seed: 18, vocab: 6, context: 12, layers: 2, embd: 16);
        int[][] prompts = [[1], [2, 3], [5, 4, 3, 2], [3], [4, 4, 1, 2, 5], [1, 2, 3, 4, 5, 1, 2, 3], [2]];
        const int maxNew = 6;
        var rng = new Rng(9);
        var rolls = new RolloutSampler(model).Sample(prompts, maxNew, End, 1e-6f, ref rng);

        Assert.Equal(prompts.Length, rolls.Length);
        for (int i = 0; i < prompts.Length; i++)
        {
            // A prompt longer than the context less maxNew keeps its last tokens.
            int[] kept = prompts[i].Length > 12 - maxNew ? prompts[i][^(12 - maxNew)..] : prompts[i];
            var (greedy, finished) = Greedy(model, kept, maxNew);
            Assert.Equal(kept, rolls[i].Prompt);
            Assert.Equal(greedy, rolls[i].Response);
            Assert.Equal(finished, rolls[i].Finished);
            Assert.Equal([.. kept, .. greedy], rolls[i].Sequence);
            // Ends at the end token, or runs to the limit without one.
            if (rolls[i].Finished) Assert.Equal(End, rolls[i].Response[^1]);
            else Assert.Equal(maxNew, rolls[i].Response.Length);
            Assert.Equal(rolls[i].Finished, rolls[i].Response.Contains(End));
        }
        // The seed is chosen so that both endings occur, one response ends exactly at the limit, and sequences leave the
        // batch at different steps (lengths 6, 4, 1, 6, 2, 6, 4).
        Assert.Contains(rolls, r => r.Finished && r.Response.Length < maxNew);
        Assert.Contains(rolls, r => r.Finished && r.Response.Length == maxNew);
        Assert.Contains(rolls, r => !r.Finished);
        Assert.Equal([6, 4, 1, 6, 2, 6, 4], rolls.Select(r => r.Response.Length));
        Assert.Equal(6, rolls[5].Prompt.Length);
    }

    // Argmax of the full forward's last row, one token at a time (no KV cache, no batching): the oracle.
    private static (int[] Tokens, bool Finished) Greedy(GptModel model, int[] prompt, int maxNew)
    {
        var seq = prompt.ToList();
        var output = new List<int>();
        int V = model.VocabSize;
        for (int step = 0; step < maxNew; step++)
        {
            var logits = new float[seq.Count * V];
            model.ForwardLogits(seq.ToArray(), 1, seq.Count, logits);
            var last = logits.AsSpan((seq.Count - 1) * V, V);
            int best = 0;
            for (int v = 1; v < V; v++) if (last[v] > last[best]) best = v;
            output.Add(best); seq.Add(best);
            if (best == End) return ([.. output], true);
        }
        return ([.. output], false);
    }

    [Fact]
    public void Sample_TemperatureOne_DrawsFromTheModelsDistribution()
    {
        // PPO's ratios assume rollouts come from π itself: no truncation, no temperature. 4000 first tokens after one
        // prompt, all sampled in one batch, against the exact softmax (Pearson's χ², p = 0.001).
        var model = TinyModels.Gpt(seed: 2, vocab: 6, context: 8, initStd: 0.3f);
        var prompts = Enumerable.Repeat(new[] { 3, 1 }, 4000).ToList();
        var rng = new Rng(17);
        var rolls = new RolloutSampler(model).Sample(prompts, 1, End, 1f, ref rng);
        var counts = new long[6];
        foreach (var r in rolls) counts[Assert.Single(r.Response)]++;
        ChiSquare.AssertFits(counts, TinyModels.NextDistribution(model, [3, 1]));
    }

    [Fact]
    public void Sample_BadArguments_OneLineErrors()
    {
        var model = TinyModels.Gpt(seed: 1, vocab: 6, context: 8);
        var sampler = new RolloutSampler(model);
        var rng = new Rng(1);
        Assert.Equal("prompt 1 is empty", Assert.Throws<ArgumentException>(() => sampler.Sample([[1], []], 2, End, 1f, ref rng)).Message);
        Assert.Equal("max new tokens 8 leaves no room for a prompt in the context of 8",
            Assert.Throws<ArgumentException>(() => sampler.Sample([[1]], 8, End, 1f, ref rng)).Message);
        Assert.StartsWith("rollouts sample at a temperature above 0",
            Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample([[1]], 2, End, 0f, ref rng)).Message);
    }

    [Fact]
    public void SequenceBatch_HandMadeRollouts_LaysOutInputsTargetsMaskAndLast()
    {
        // Row 0: prompt [1 2 3], response [4 5] (cut by the limit) → inputs 1 2 3 4 5; targets at 2, 3 (= p − 1 + t).
        // Row 1: prompt [6], response [7 8 0] (ended)          → inputs 6 7 8 0 0; targets at 0, 1, 2; padding after.
        // Row 2: prompt [9 9], response [1 2 0] (ended)      → inputs 9 9 1 2 0, the row full; targets at 1, 2, 3.
        Rollout[] rolls = [new([1, 2, 3], [4, 5], false), new([6], [7, 8, 0], true), new([9, 9], [1, 2, 0], true)];
        var batch = new SequenceBatch(rolls, 5);
        const int I = CrossEntropy.IgnoreIndex;
        Assert.Equal((3, 5), (batch.B, batch.T));
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 9, 9, 1, 2, 0], batch.Inputs);
        Assert.Equal([I, I, 4, 5, I, 7, 8, 0, I, I, I, 1, 2, 0, I], batch.Targets);
        Assert.Equal([false, false, true, true, false, true, true, true, false, false, false, true, true, true, false], batch.Mask);
        Assert.Equal(batch.Mask.Select(m => m ? 1f : 0f), batch.Weights);
        Assert.Equal([2, 5, 11], batch.Start);
        Assert.Equal([2, 3, 3], batch.Length);
        Assert.Equal([4, 8, 14], batch.Last);
        Assert.Equal(8, batch.Tokens);
        // Inputs at Last are each row's final token; targets sit one position before the token they predict.
        for (int b = 0; b < 3; b++)
        {
            Assert.Equal(rolls[b].Sequence[^1], batch.Inputs[batch.Last[b]]);
            for (int t = 0; t < batch.Length[b]; t++) Assert.Equal(batch.Inputs[batch.Start[b] + t + 1], batch.Targets[batch.Start[b] + t]);
        }
        Assert.Equal(6, SequenceBatch.RowLength(4, 2, 16));
        Assert.Equal(16, SequenceBatch.RowLength(15, 8, 16));
        Assert.Equal("rollout 0 has 7 tokens; rows hold 5", Assert.Throws<ArgumentException>(() => new SequenceBatch([new Rollout([1, 2, 3, 4], [5, 6, 7], false)], 5)).Message);
    }
}
