// Generation past the context slides the window: exactly max-new-tokens come out, and every token after a shift is
// what a fresh run with the kept window as its prompt produces.
using NextToken.Generation;

namespace NextToken.Tests.Generation;

public sealed class ContextShiftTests
{
    private const int Context = 8;

    [Fact]
    public void ContextShiftKeep_IsTheRecentHalf()
    {
        Assert.Equal(4, Generator.ContextShiftKeep(8));
        Assert.Equal(3, Generator.ContextShiftKeep(7));
        Assert.Equal(1, Generator.ContextShiftKeep(1));
    }

    [Theory]
    [InlineData(3, 20)]
    [InlineData(Context, 13)]   // a prompt that fills the context shifts after the first token
    [InlineData(1, 40)]         // several shifts
    public void Greedy_PastContext_ReturnsMaxNewTokensAndContinuesAsFreshRun(int promptLength, int maxNew)
    {
        var model = TinyModels.Gpt(21, vocab: 6, context: Context, layers: 2);
        var g = new Generator(model);
        int[] prompt = Enumerable.Range(0, promptLength).Select(i => (i * 5 + 1) % 6).ToArray();
        var o = new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = maxNew };
        var r = g.Generate(prompt, o);
        Assert.Equal(maxNew, r.Best.Tokens.Count);
        Assert.Equal(FinishReason.Length, r.Best.FinishReason);

        // The first shift comes after new token k, when the cache holds the prompt and the k − 1 tokens before it.
        int k = Context - promptLength + 1;
        var text = prompt.Concat(r.Best.Tokens).ToArray();
        int keep = Generator.ContextShiftKeep(Context);
        int[] window = text[(promptLength + k - keep)..(promptLength + k)];
        var fresh = g.Generate(window, o with { MaxNewTokens = maxNew - k });
        Assert.Equal(r.Best.Tokens.Skip(k), fresh.Best.Tokens);
    }

    [Fact]
    public void Sample_PastContext_ReturnsMaxNewTokens()
    {
        var model = TinyModels.Gpt(22, vocab: 6, context: Context);
        var r = new Generator(model).Generate([1, 2, 3], new GenerationOptions { MaxNewTokens = 30, NumSequences = 3, Seed = 5 });
        Assert.All(r.Sequences, s => Assert.Equal(30, s.Tokens.Count));
        Assert.All(r.Sequences, s => Assert.Equal(FinishReason.Length, s.FinishReason));
    }

    [Fact]
    public void GenerateBatch_PastContext_EqualsOneAtATime()
    {
        // Rows reach the end of the context at different steps, so shifted rows and stepping rows share a batch step.
        var model = TinyModels.Gpt(23, vocab: 6, context: Context, layers: 2);
        var g = new Generator(model);
        int[][] prompts = [[1], [2, 3, 4], [5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5, 0, 1]];
        var o = new GenerationOptions { Strategy = DecodingStrategy.Sample, MaxNewTokens = 25, Seed = 9 };
        var batch = g.GenerateBatch(prompts, o);
        for (int i = 0; i < prompts.Length; i++)
        {
            var single = g.Generate(prompts[i], o);
            Assert.Equal(single.Best.Tokens, batch[i].Best.Tokens);
            Assert.Equal(25, batch[i].Best.Tokens.Count);
        }
    }

    [Fact]
    public async Task BatchScheduler_PastContext_EqualsGenerate()
    {
        var model = TinyModels.Gpt(24, vocab: 6, context: Context, layers: 2);
        var g = new Generator(model);
        using var scheduler = new BatchScheduler(g, maxBatch: 4, start: false);
        int[][] prompts = [[1], [2, 3, 4], [5, 4, 3, 2, 1, 0, 1]];
        var o = new GenerationOptions { Strategy = DecodingStrategy.Sample, MaxNewTokens = 22, Seed = 3 };
        var tasks = prompts.Select(p => scheduler.GenerateAsync(p, o)).ToArray();
        scheduler.Start();
        var results = await Task.WhenAll(tasks);
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(22, results[i].Best.Tokens.Count);
            Assert.Equal(g.Generate(prompts[i], o).Best.Tokens, results[i].Best.Tokens);
        }
    }

    [Fact]
    public void Contrastive_PastContext_ReturnsMaxNewTokensAndContinuesAsFreshRun()
    {
        var model = TinyModels.Gpt(25, vocab: 6, context: Context, layers: 2, initStd: 0.25f);
        var g = new Generator(model);
        int[] prompt = [1, 4, 2];
        var o = new GenerationOptions { Strategy = DecodingStrategy.Contrastive, ContrastiveTopK = 3, ContrastiveAlpha = 0.6f, MaxNewTokens = 18 };
        var r = g.Generate(prompt, o);
        Assert.Equal(18, r.Best.Tokens.Count);
        // Contrastive search keeps a position free for its candidates: it slides after token k with the cache at
        // prompt + k − 1 positions, when feeding token k would fill the context.
        int k = Context - prompt.Length;
        var text = prompt.Concat(r.Best.Tokens).ToArray();
        int keep = Generator.ContextShiftKeep(Context);
        var fresh = g.Generate(text[(prompt.Length + k - keep)..(prompt.Length + k)], o with { MaxNewTokens = 18 - k });
        Assert.Equal(r.Best.Tokens.Skip(k), fresh.Best.Tokens);
    }
}
