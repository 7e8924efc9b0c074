// ServingEngine: one model behind a BatchScheduler, with admission control, chat formatting and per-request timeouts.
using System.Threading.Channels;
using NextToken.Chat;
using NextToken.Generation;
using NextToken.Vision;
using NextToken.Model;
using NextToken.Tokenization;

namespace NextToken.Server;

/// <summary>
/// One piece of a running completion: text with the tokens behind it (see <see cref="TextPiece"/>) or, last, the
/// finished sequence (whose logprobs include the tokens no piece carried: end-of-text, the ones completing a stop string).
/// </summary>
public readonly record struct CompletionEvent(string? Text, GeneratedSequence? Done, IReadOnlyList<TokenLogprob> Tokens);

/// <summary>
/// Everything the HTTP endpoints and the in-process <see cref="NextTokenChatClient"/> share: the generator, the
/// continuous-batching scheduler, the chat template and admission (at most MaxBatch + MaxQueue requests in flight;
/// beyond that <see cref="TryAdmit"/> fails and the server answers 429).
/// </summary>
public sealed class ServingEngine : IDisposable
{
    private readonly BatchScheduler _scheduler;
    private int _inFlight;

    /// <summary>Creates the engine and starts its decode loop.</summary>
    public ServingEngine(ICausalLm model, ITokenizer? tokenizer, ServeOptions? options = null, ChatTemplate? template = null)
    {
        Options = options ?? new ServeOptions();
        Generator = new Generator(model, tokenizer);
        Template = template ?? ChatTemplate.ChatMl;
        _scheduler = new BatchScheduler(Generator, Options.MaxBatch);
        Metrics = new ServingMetrics();
    }

    /// <summary>The settings.</summary>
    public ServeOptions Options { get; }
    /// <summary>The generator (model and tokenizer).</summary>
    public Generator Generator { get; }
    /// <summary>The chat template (ChatML unless the model names another).</summary>
    public ChatTemplate Template { get; }
    /// <summary>Prometheus metrics of this engine.</summary>
    public ServingMetrics Metrics { get; }
    /// <summary>Requests admitted and not finished.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);
    /// <summary>Batched decode steps so far.</summary>
    public long Steps => _scheduler.Steps;
    /// <summary>Model's context length.</summary>
    public int ContextLength => Generator.Model.ContextLength;

    /// <summary>Takes a slot for <paramref name="count"/> sequences; false when the queue is full.</summary>
    public bool TryAdmit(int count)
    {
        int now = Interlocked.Add(ref _inFlight, count);
        if (now > Options.MaxBatch + Options.MaxQueue) { Interlocked.Add(ref _inFlight, -count); return false; }
        Metrics.QueueDepth.Set(Math.Max(0, now - Options.MaxBatch));
        Metrics.BatchOccupancy.Set(Math.Min(now, Options.MaxBatch));
        return true;
    }

    /// <summary>Gives back slots taken by <see cref="TryAdmit"/>.</summary>
    public void Release(int count)
    {
        int now = Interlocked.Add(ref _inFlight, -count);
        Metrics.QueueDepth.Set(Math.Max(0, now - Options.MaxBatch));
        Metrics.BatchOccupancy.Set(Math.Min(now, Options.MaxBatch));
    }

    /// <summary>The prompt of a conversation: the template's rendering with the assistant's generation prompt.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages) => Encode(Template.Render(messages, addGenerationPrompt: true));

    /// <summary>Positions an embedding prefix takes in the context (0 without one).</summary>
    public int PrefixLength(float[]? prefix) => prefix is null ? 0 : prefix.Length / Generator.Model.HiddenSize;

    /// <summary>
    /// A chat about an image, for a multimodal model (docs/multimodal.md): the image (decoded, resized to the model's
    /// input, encoded into its prefix) and the question — the last user message's text and a newline, the format the
    /// model was trained on. A text-only model, or bytes that are not an image, are a 400 naming <paramref name="param"/>.
    /// </summary>
    public (int[] Question, float[] Prefix) EncodeImageChat(IReadOnlyList<ChatMessage> messages, byte[] image, string param)
    {
        if (Generator.Model is not GptModel { Config.Multimodal: true } model)
            throw new ServingException(400, $"{param}: this model is text-only; image_url parts need a multimodal model (nexttoken train --data builtin:shapes, docs/multimodal.md)", param: param);
        var cfg = model.Config;
        float[] pixels;
        try { pixels = ImageFiles.Decode(image, cfg.ImageSize, param); }
        catch (InvalidDataException e) { throw new ServingException(400, e.Message, param: param); }
        var prefix = ImageEncoder.Prefix(model, pixels);
        var user = messages.LastOrDefault(m => m.Role == "user") ?? throw new ServingException(400, "a chat about an image needs a user message with the question", param: "messages");
        return (Encode(user.Content.Trim() + "\n", "messages"), prefix);
    }

    /// <summary>Encodes prompt text; a character the vocabulary lacks is a 400 naming <paramref name="param"/>.</summary>
    public int[] Encode(string text, string param = "prompt")
    {
        if (text.Length > 0 && Generator.Tokenizer is null)
            throw new ServingException(400, $"this model has no tokenizer: send {param} as an array of token ids", param: param);
        try { return Generator.Encode(text); }
        catch (ArgumentException e) { throw new ServingException(400, $"{param} cannot be encoded by this model's tokenizer: {e.Message}", param: param); }
    }

    /// <summary>Checks prompt token ids lie in the vocabulary; the first that does not is a 400 naming <c>param[i]</c>.</summary>
    public int[] CheckIds(int[] ids, string param = "prompt")
    {
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)Generator.Model.VocabSize)
                throw new ServingException(400, $"{param}[{i}]: token id {ids[i]} is outside the vocabulary (0..{Generator.Model.VocabSize - 1})", param: $"{param}[{i}]");
        return ids;
    }

    /// <summary>
    /// Checks the prompt fits and clamps max new tokens to what is left of the context (an absurd max_tokens ends with
    /// <c>length</c> rather than failing).
    /// </summary>
    public GenerationOptions Fit(int[] prompt, GenerationOptions options, string param = "messages", int prefixLength = 0)
    {
        if (prompt.Length + prefixLength >= ContextLength)
            throw new ServingException(400, $"{(param is "messages" or "prompt" ? "the prompt" : param)} has {prompt.Length} tokens{(prefixLength > 0 ? $" after the image's {prefixLength} positions" : "")} but this model's context is {ContextLength} tokens (room must be left for at least one new token); shorten the prompt",
                param: param, code: "context_length_exceeded");
        int room = ContextLength - prompt.Length - prefixLength;
        return options.MaxNewTokens > room ? options with { MaxNewTokens = room } : options;
    }

    /// <summary>
    /// Runs one sequence on the scheduler, yielding text pieces (with their tokens) as they are decoded and, last, the
    /// finished sequence.
    /// Cancelling (client gone) frees the slot at the next step; the per-request timeout ends it with <c>length</c>.
    /// </summary>
    public IAsyncEnumerable<CompletionEvent> RunAsync(int[] prompt, GenerationOptions options, CancellationToken cancellationToken = default) =>
        RunAsync(prompt, options, null, cancellationToken);

    /// <summary>As <see cref="RunAsync(int[], GenerationOptions, CancellationToken)"/> after an embedding prefix (a multimodal model's image).</summary>
    public async IAsyncEnumerable<CompletionEvent> RunAsync(int[] prompt, GenerationOptions options, float[]? prefix,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = Channel.CreateUnbounded<TextPiece>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.RequestTimeout);
        var started = DateTime.UtcNow;
        Task<GenerationResult> task;
        try
        {
            task = prefix is null ? _scheduler.GeneratePiecesAsync(prompt, options, piece => channel.Writer.TryWrite(piece), timeout.Token)
                : _scheduler.GeneratePiecesAsync(prompt, prefix, options, piece => channel.Writer.TryWrite(piece), timeout.Token);
        }
        catch (ArgumentException e) { throw new ServingException(400, e.Message); }
        _ = task.ContinueWith(_ => channel.Writer.TryComplete(), TaskScheduler.Default);
        await foreach (var piece in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new CompletionEvent(piece.Text, null, piece.Tokens);
        }
        var result = await task.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var seq = result.Best;
        if (seq.FinishReason == FinishReason.Cancelled) seq = seq with { FinishReason = FinishReason.Length }; // timed out
        Metrics.PromptTokens.Inc(result.PromptTokens.Count);
        Metrics.CompletionTokens.Inc(seq.Tokens.Count);
        Metrics.GenerationSeconds.Observe((DateTime.UtcNow - started).TotalSeconds);
        yield return new CompletionEvent(null, seq, []);
    }

    /// <summary>The text of one token as OpenAI's logprobs show it (its bytes decoded; a partial character shows as U+FFFD).</summary>
    public string TokenText(int id) => Generator.Tokenizer is { } t ? System.Text.Encoding.UTF8.GetString(t.TokenBytes(id)) : id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The UTF-8 bytes of one token.</summary>
    public byte[] TokenBytes(int id) => Generator.Tokenizer is { } t ? t.TokenBytes(id).ToArray() : [];

    /// <summary>Stops the decode loop.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _scheduler.Dispose();
    }

    private int _disposed;
}
