// ServingFixture: a tiny random GPT over printable ASCII served on a free loopback port, plus a slow variant.
using NextToken.Model;
using NextToken.Server;
using NextToken.Tokenization;

namespace NextToken.Tests.Serving;

internal static class TinyServing
{
    public const string Key = "sk-test-key";
    public const string Name = "tiny";

    /// <summary>Printable ASCII and a newline: the ChatML markers encode character by character.</summary>
    public static CharTokenizer Tokenizer() => new(Enumerable.Range(32, 95).Select(c => ((char)c).ToString()).Prepend("\n"));

    public static GptModel Model() =>
        new(new GptConfig { VocabSize = 96, ContextLength = 128, Layers = 1, Heads = 2, EmbeddingSize = 16, InitStd = 0.5f }, 7);

    public static async Task<NextTokenServer> StartAsync(ServeOptions? options = null, Func<GptModel, NextToken.Model.ICausalLm>? wrap = null)
    {
        var o = (options ?? new ServeOptions()) with { Port = 0, ApiKey = (options ?? new ServeOptions()).ApiKey ?? Key, ModelName = Name };
        var server = NextTokenServer.Create(o, () => new ServingEngine(wrap is null ? Model() : wrap(Model()), Tokenizer(), o));
        await server.StartAsync();
        await server.Loaded;
        return server;
    }
}

/// <summary>A model that sleeps in each batched decode step, so requests stay in flight long enough to observe.</summary>
internal sealed class SlowLm(ICausalLm inner, int sleepMs) : ICausalLm
{
    public int VocabSize => inner.VocabSize;
    public int ContextLength => inner.ContextLength;
    public int HiddenSize => inner.HiddenSize;
    public KvCache CreateCache() => inner.CreateCache();
    public void Forward(KvCache cache, ReadOnlySpan<int> tokens, Span<float> logits, bool allPositions = false, Span<float> lastHidden = default) =>
        inner.Forward(cache, tokens, logits, allPositions, lastHidden);
    public void ForwardBatch(ReadOnlySpan<KvCache> caches, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        Thread.Sleep(sleepMs);
        inner.ForwardBatch(caches, tokens, logits);
    }
}

public sealed class ServingFixture : IAsyncLifetime
{
    internal NextTokenServer Server { get; private set; } = null!;
    public Uri Address => Server.Address;
    public async Task InitializeAsync() => Server = await TinyServing.StartAsync();
    public async Task DisposeAsync() => await Server.DisposeAsync();
}
