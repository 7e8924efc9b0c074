// NextTokenChatClient: Microsoft.Extensions.AI's IChatClient over a ServingEngine, for in-process use without HTTP.
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using NextToken.Generation;
using MeaiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using NtChatMessage = NextToken.Chat.ChatMessage;

namespace NextToken.Server;

/// <summary>
/// An <see cref="IChatClient"/> on the same engine as the server (continuous batching included). Messages are
/// formatted with the engine's chat template; <see cref="ChatOptions"/> map onto <see cref="GenerationOptions"/>
/// (Temperature, TopP, TopK, MaxOutputTokens, StopSequences, Seed, FrequencyPenalty, PresencePenalty). Streaming yields
/// one update per decoded text piece and a final update carrying <see cref="UsageContent"/> and the finish reason.
/// </summary>
public sealed class NextTokenChatClient(ServingEngine engine) : IChatClient
{
    private readonly ChatClientMetadata _metadata = new("nexttoken", null, engine.Options.ModelName);

    /// <summary>The engine.</summary>
    public ServingEngine Engine { get; } = engine;

    /// <summary>The generation options <paramref name="options"/> map to (defaults: temperature 1, up to the context).</summary>
    public static GenerationOptions Map(ChatOptions? options)
    {
        var o = new GenerationOptions { MaxNewTokens = int.MaxValue, Seed = (ulong)Random.Shared.NextInt64() };
        if (options is null) return o;
        if (options.Temperature is float t) o = o with { Temperature = t };
        if (options.TopP is float p) o = o with { TopP = p };
        if (options.TopK is int k) o = o with { TopK = k };
        if (options.MaxOutputTokens is int m) o = o with { MaxNewTokens = m };
        if (options.StopSequences is { Count: > 0 } s) o = o with { StopStrings = [.. s] };
        if (options.Seed is long seed) o = o with { Seed = unchecked((ulong)seed) };
        if (options.FrequencyPenalty is float f) o = o with { FrequencyPenalty = f };
        if (options.PresencePenalty is float pp) o = o with { PresencePenalty = pp };
        return o.Validate();
    }

    private (int[] Prompt, GenerationOptions Options) Prepare(IEnumerable<MeaiChatMessage> messages, ChatOptions? options)
    {
        var list = messages.Select(m => new NtChatMessage(m.Role == ChatRole.Assistant ? "assistant" : m.Role == ChatRole.System ? "system" : "user", m.Text)).ToList();
        int[] prompt = Engine.EncodeChat(list);
        var o = Engine.Fit(prompt, Map(options));
        return (prompt, o with { StopStrings = [.. o.StopStrings, .. Engine.Template.StopStrings] });
    }

    static ChatFinishReason Reason(FinishReason r) => r is FinishReason.Stop or FinishReason.EndOfText ? ChatFinishReason.Stop : ChatFinishReason.Length;

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<MeaiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (prompt, o) = Prepare(messages, options);
        GeneratedSequence? done = null;
        await foreach (var e in Engine.RunAsync(prompt, o, cancellationToken).ConfigureAwait(false)) done ??= e.Done;
        return new ChatResponse(new MeaiChatMessage(ChatRole.Assistant, done!.Text))
        {
            ModelId = Engine.Options.ModelName,
            FinishReason = Reason(done.FinishReason),
            Usage = new UsageDetails { InputTokenCount = prompt.Length, OutputTokenCount = done.Tokens.Count, TotalTokenCount = prompt.Length + done.Tokens.Count },
        };
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<MeaiChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (prompt, o) = Prepare(messages, options);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        await foreach (var e in Engine.RunAsync(prompt, o, cancellationToken).ConfigureAwait(false))
        {
            if (e.Done is { } done)
            {
                var usage = new UsageDetails { InputTokenCount = prompt.Length, OutputTokenCount = done.Tokens.Count, TotalTokenCount = prompt.Length + done.Tokens.Count };
                yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(usage)])
                {
                    ResponseId = id, ModelId = Engine.Options.ModelName, FinishReason = Reason(done.FinishReason),
                };
            }
            else yield return new ChatResponseUpdate(ChatRole.Assistant, e.Text) { ResponseId = id, ModelId = Engine.Options.ModelName };
        }
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType.IsInstanceOfType(Engine) ? Engine
        : null;

    /// <summary>Nothing to free: the engine belongs to whoever created it.</summary>
    public void Dispose() { }
}
