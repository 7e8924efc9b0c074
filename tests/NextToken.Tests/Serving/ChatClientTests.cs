// ChatClientTests: the in-process IChatClient — option mapping, streaming, usage, cancellation, metadata, DI.
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using NextToken.Server;

namespace NextToken.Tests.Serving;

public sealed class ChatClientTests : IDisposable
{
    readonly ServingEngine _engine = new(TinyServing.Model(), TinyServing.Tokenizer(), new ServeOptions { ModelName = TinyServing.Name });
    public void Dispose() => _engine.Dispose();

    [Fact]
    public void ChatOptions_MapOntoGenerationOptions()
    {
        var o = NextTokenChatClient.Map(new ChatOptions
        {
            Temperature = 0.3f, TopP = 0.8f, TopK = 7, MaxOutputTokens = 9, StopSequences = ["END", "\n\n"], Seed = 42,
            FrequencyPenalty = 0.5f, PresencePenalty = -0.25f,
        });
        Assert.Equal((0.3f, 0.8f, 7, 9, 42UL, 0.5f, -0.25f), (o.Temperature, o.TopP, o.TopK, o.MaxNewTokens, o.Seed, o.FrequencyPenalty, o.PresencePenalty));
        Assert.Equal(["END", "\n\n"], o.StopStrings);
        Assert.Throws<ArgumentException>(() => NextTokenChatClient.Map(new ChatOptions { TopP = 1.5f }));
    }

    [Fact]
    public async Task Streaming_ConcatenatesToTheResponse_AndEndsWithUsageAndFinishReason()
    {
        IChatClient client = new NextTokenChatClient(_engine);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 20 };
        var response = await client.GetResponseAsync("hello", options);
        var updates = await client.GetStreamingResponseAsync("hello", options).ToListAsync();
        Assert.True(updates.Count > 2);
        Assert.Equal(response.Text, string.Concat(updates.Select(u => u.Text)));
        var last = updates[^1];
        var usage = Assert.Single(last.Contents.OfType<UsageContent>()).Details;
        Assert.Equal(response.Usage!.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(ChatFinishReason.Length, last.FinishReason);
        Assert.Equal(20, usage.OutputTokenCount);
        // A stop sequence taken from the answer ends it there with finish reason stop.
        string stop = response.Text.Substring(4, 2);
        var cut = await client.GetResponseAsync("hello", new ChatOptions { Temperature = 0, MaxOutputTokens = 20, StopSequences = [stop] });
        Assert.Equal(response.Text[..response.Text.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
        Assert.Equal(ChatFinishReason.Stop, cut.FinishReason);
    }

    [Fact]
    public async Task Cancellation_StopsTheStreamAndFreesTheEngine()
    {
        var slow = new ServingEngine(new SlowLm(TinyServing.Model(), 10), TinyServing.Tokenizer(), new ServeOptions());
        try
        {
            IChatClient client = new NextTokenChatClient(slow);
            using var cts = new CancellationTokenSource();
            int seen = 0;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (var u in client.GetStreamingResponseAsync("hi", new ChatOptions { MaxOutputTokens = 100 }, cts.Token))
                    if (++seen == 2) cts.Cancel();
            });
            Assert.InRange(seen, 2, 3);
        }
        finally { slow.Dispose(); }
    }

    [Fact]
    public void GetService_ReturnsMetadata_AndDependencyInjectionResolvesTheClient()
    {
        var services = new ServiceCollection();
        services.AddNextTokenChatClient(_ => _engine);
        using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<IChatClient>();
        var meta = client.GetService<ChatClientMetadata>();
        Assert.NotNull(meta);
        Assert.Equal("nexttoken", meta!.ProviderName);
        Assert.Equal(TinyServing.Name, meta.DefaultModelId);
        Assert.Same(_engine, client.GetService<ServingEngine>());
    }
}
