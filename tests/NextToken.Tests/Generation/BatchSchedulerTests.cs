// BatchScheduler: concurrent requests decode together and each equals its one-at-a-time output; cancellation is per request.
using NextToken.Generation;

namespace NextToken.Tests.Generation;

public sealed class BatchSchedulerTests
{
    [Fact]
    public async Task GenerateAsync_ConcurrentRequests_BatchedAndEqualToSingleRuns()
    {
        var model = TinyModels.Gpt(21, vocab: 6, context: 32, layers: 2, initStd: 0.3f);
        var g = new Generator(model);
        var requests = new (int[] Prompt, GenerationOptions Options)[]
        {
            ([1], new GenerationOptions { Strategy = DecodingStrategy.Greedy, MaxNewTokens = 12 }),
            ([2, 3, 4, 5], new GenerationOptions { MaxNewTokens = 20, Seed = 3, TopK = 4 }),
            ([0, 0, 1], new GenerationOptions { MaxNewTokens = 7, Seed = 9, Temperature = 0.7f, RepetitionPenalty = 1.3f }),
            ([5, 4, 3, 2, 1, 0, 1], new GenerationOptions { MaxNewTokens = 16, Seed = 4, TopP = 0.8f }),
        };
        using var scheduler = new BatchScheduler(g, maxBatch: 8, start: false);
        var tasks = requests.Select(r => scheduler.GenerateAsync(r.Prompt, r.Options)).ToArray();
        scheduler.Start();
        var results = await Task.WhenAll(tasks);
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(g.Generate(requests[i].Prompt, requests[i].Options).Best.Tokens, results[i].Best.Tokens);
        Assert.Equal(4, scheduler.LargestBatch);
        Assert.True(scheduler.Steps < results.Sum(r => r.Best.Tokens.Count), $"{scheduler.Steps} steps: requests were not batched");
    }

    [Fact]
    public async Task GenerateAsync_OneCancelled_OthersFinish()
    {
        var model = TinyModels.Gpt(22, vocab: 6, context: 64);
        var g = new Generator(model);
        using var scheduler = new BatchScheduler(g, maxBatch: 2, start: false);
        using var cts = new CancellationTokenSource();
        var a = scheduler.GenerateAsync([1], new GenerationOptions { MaxNewTokens = 30 }, cancellationToken: cts.Token);
        var b = scheduler.GenerateAsync([2], new GenerationOptions { MaxNewTokens = 30 });
        var c = scheduler.GenerateAsync([3], new GenerationOptions { MaxNewTokens = 5 }); // waits for a free slot
        cts.Cancel();
        scheduler.Start();
        Assert.Equal(FinishReason.Cancelled, (await a).Best.FinishReason);
        Assert.Equal(30, (await b).Best.Tokens.Count);
        Assert.Equal(g.Generate([3], new GenerationOptions { MaxNewTokens = 5 }).Best.Tokens, (await c).Best.Tokens);
    }

    [Fact]
    public async Task GenerateAsync_BeamRequest_RunsBesideTheLoop()
    {
        var model = TinyModels.Gpt(23, vocab: 6, context: 16);
        var g = new Generator(model);
        using var scheduler = new BatchScheduler(g);
        var o = new GenerationOptions { Strategy = DecodingStrategy.Beam, Beams = 3, MaxNewTokens = 6 };
        Assert.Equal(g.Generate([1, 2], o).Best.Tokens, (await scheduler.GenerateAsync([1, 2], o)).Best.Tokens);
    }
}
