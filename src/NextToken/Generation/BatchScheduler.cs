// BatchScheduler: continuous batching — concurrent requests join and leave one shared decode loop (the server's engine).
using System.Threading.Channels;
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Generation;

/// <summary>
/// Serves concurrent greedy/sampling requests from one background loop: each step runs every active sequence's next
/// token in one <see cref="ICausalLm.ForwardBatch"/> (the weights are read once for all of them), new requests are
/// prefilled and join at the next step, finished or cancelled ones leave (continuous batching, as in Orca/vLLM).
/// Each request keeps its own options, processors, random generator and cache, so its output equals
/// <see cref="Generator.Generate(IReadOnlyList{int}, GenerationOptions, Action{string}?, CancellationToken)"/> with the
/// same arguments. Other strategies (beam, contrastive, speculative) and multi-sequence requests run on the thread pool.
/// </summary>
public sealed class BatchScheduler : IDisposable
{
    private readonly Generator _generator;
    private readonly ICausalLm _model;
    private readonly int _maxBatch;
    private readonly Channel<Request> _incoming = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;

    /// <summary>
    /// Creates the scheduler; at most <paramref name="maxBatch"/> sequences decode together (the rest wait their turn).
    /// With <paramref name="start"/> false the loop waits for <see cref="Start"/> (tests queue requests first).
    /// </summary>
    public BatchScheduler(Generator generator, int maxBatch = 16, bool start = true)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _generator = generator;
        _model = generator.Model;
        _maxBatch = maxBatch;
        _loop = Task.Run(LoopAsync);
        if (start) Start();
    }

    /// <summary>Batched decode steps run so far (one ForwardBatch each).</summary>
    public long Steps { get; private set; }
    /// <summary>The most sequences decoded in one step so far.</summary>
    public int LargestBatch { get; private set; }

    /// <summary>Starts the loop (idempotent).</summary>
    public void Start() => _started.TrySetResult();

    private sealed class Request
    {
        public required int[] Prompt;
        public required bool Truncated;
        public required GenerationOptions Options;
        public required LogitsPipeline Pipeline;
        public required SequenceSink Sink;
        public required CancellationToken Cancellation;
        public required int[] Sequence;
        public required float[] Logits;
        public readonly TaskCompletionSource<GenerationResult> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Rng Rng;
        public float[]? Prefix;
        public KvCache? Cache;
        public int Length;
    }

    /// <summary>Queues a request; the task completes with its result (finish reason <c>cancelled</c> when cancelled).</summary>
    public Task<GenerationResult> GenerateAsync(IReadOnlyList<int> prompt, GenerationOptions options, Action<string>? onText = null, CancellationToken cancellationToken = default) =>
        Queue(prompt, options, onText is null ? null : p => onText(p.Text), cancellationToken);

    /// <summary>
    /// Queues a request whose text streams as <see cref="TextPiece"/>s: each piece with the tokens (and their
    /// log-probabilities) behind it, as a server needs for streamed logprobs. Otherwise as <see cref="GenerateAsync"/>.
    /// </summary>
    public Task<GenerationResult> GeneratePiecesAsync(IReadOnlyList<int> prompt, GenerationOptions options, Action<TextPiece> onPiece, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onPiece);
        return Queue(prompt, options, onPiece, cancellationToken);
    }

    /// <summary>
    /// As <see cref="GeneratePiecesAsync(IReadOnlyList{int}, GenerationOptions, Action{TextPiece}, CancellationToken)"/> with
    /// an embedding prefix (P, C) before the prompt — a multimodal model's image — prefilled from embeddings
    /// (<see cref="GptModel.ForwardEmbeddings"/>). Greedy or sampled decoding of one sequence; the prompt is never shifted
    /// out of a full context (the request ends with <c>length</c>).
    /// </summary>
    public Task<GenerationResult> GeneratePiecesAsync(IReadOnlyList<int> prompt, float[] prefix, GenerationOptions options, Action<TextPiece> onPiece, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onPiece);
        ArgumentNullException.ThrowIfNull(prefix);
        if (_model is not GptModel) throw new ArgumentException("an embedding prefix needs a GPT model");
        if (options.Strategy is not (DecodingStrategy.Greedy or DecodingStrategy.Sample) || options.NumSequences != 1)
            throw new ArgumentException("with an embedding prefix (an image) only greedy or sampled decoding of one sequence is served");
        return Queue(prompt, options, onPiece, cancellationToken, prefix);
    }

    private Task<GenerationResult> Queue(IReadOnlyList<int> prompt, GenerationOptions options, Action<TextPiece>? onPiece, CancellationToken cancellationToken,
                                         float[]? prefix = null)
    {
        options.Validate();
        if (options.Strategy is not (DecodingStrategy.Greedy or DecodingStrategy.Sample) || options.NumSequences != 1)
            return Task.Run(() => _generator.GenerateCore(prompt, options, onPiece, cancellationToken), CancellationToken.None);
        var (ids, truncated) = _generator.PreparePrompt(prompt);
        var request = new Request
        {
            Prompt = ids, Truncated = truncated, Options = options, Cancellation = cancellationToken,
            Pipeline = new LogitsPipeline(_model.VocabSize, options, _generator.EndOfTextId),
            Sink = _generator.NewSink(options, onPiece),
            Sequence = new int[ids.Length + options.MaxNewTokens + 1],
            Logits = new float[_model.VocabSize],
            Rng = new Rng(options.Seed, Generator.RngStream),
            Prefix = prefix,
        };
        ids.CopyTo(request.Sequence, 0);
        request.Length = ids.Length;
        if (!_incoming.Writer.TryWrite(request)) throw new ObjectDisposedException(nameof(BatchScheduler));
        return request.Completion.Task;
    }

    private async Task LoopAsync()
    {
        var active = new List<Request>();
        var caches = new KvCache[_maxBatch];
        var tokens = new int[_maxBatch];
        var stepping = new Request[_maxBatch];
        var logits = new float[_maxBatch * _model.VocabSize];
        var processed = new float[_model.VocabSize];
        int V = _model.VocabSize;
        try
        {
            await _started.Task.WaitAsync(_shutdown.Token).ConfigureAwait(false);
            while (!_shutdown.IsCancellationRequested)
            {
                if (active.Count == 0 && !await _incoming.Reader.WaitToReadAsync(_shutdown.Token).ConfigureAwait(false)) break;
                while (active.Count < _maxBatch && _incoming.Reader.TryRead(out var r))
                {
                    try
                    {
                        if (r.Options.MaxNewTokens == 0) { Complete(r, FinishReason.Length); continue; }
                        r.Cache = _model.CreateCache();
                        // Prefill on its own; decoding is where batching pays. An image goes where the model was trained to read it.
                        if (r.Prefix is not null) ((GptModel)_model).Prefill(r.Cache, r.Prompt, r.Prefix, r.Logits);
                        else _model.Forward(r.Cache, r.Prompt, r.Logits);
                        active.Add(r);
                    }
                    catch (Exception e) { r.Completion.TrySetException(e); }
                }
                int m = 0;
                for (int i = 0; i < active.Count; i++)
                {
                    var r = active[i];
                    Next next;
                    try { next = Choose(r, processed); }
                    catch (Exception e) { r.Completion.TrySetException(e); next = Next.Finished; }
                    if (next == Next.Finished) { active.RemoveAt(i--); continue; }
                    if (next == Next.Shifted) continue; // its logits are fresh; it steps with the others from the next round
                    caches[m] = r.Cache!;
                    tokens[m] = r.Sequence[r.Length - 1];
                    stepping[m++] = r;
                }
                if (m == 0) continue;
                _model.ForwardBatch(caches.AsSpan(0, m), tokens.AsSpan(0, m), logits.AsSpan(0, m * V));
                Steps++;
                LargestBatch = Math.Max(LargestBatch, m);
                for (int k = 0; k < m; k++) logits.AsSpan(k * V, V).CopyTo(stepping[k].Logits);
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested) { }
        catch (Exception e)
        {
            foreach (var r in active) r.Completion.TrySetException(e);
            active.Clear();
        }
        foreach (var r in active) Complete(r, FinishReason.Cancelled);
        while (_incoming.Reader.TryRead(out var r)) r.Completion.TrySetCanceled();
    }

    private enum Next { Finished, Step, Shifted }

    // Picks the next token of one request from its latest logits: Finished when the request is done (and completed),
    // Shifted when its context was full and slid (Generator.ShiftContext ran the kept tokens), else Step.
    private Next Choose(Request r, float[] processed)
    {
        if (r.Cancellation.IsCancellationRequested) { Complete(r, FinishReason.Cancelled); return Next.Finished; }
        r.Logits.CopyTo(processed, 0);
        r.Pipeline.Apply(processed, r.Sequence.AsSpan(0, r.Length), r.Prompt.Length);
        int t = r.Options.IsGreedy ? Sampling.ArgMax(processed) : Sampling.Sample(processed, ref r.Rng);
        r.Sequence[r.Length++] = t;
        if (!r.Sink.Add(t, r.Logits)) { Complete(r, null); return Next.Finished; }
        if (r.Cache!.Length < r.Cache.Capacity) return Next.Step;
        if (r.Prefix is not null) { Complete(r, FinishReason.Length); return Next.Finished; } // an image is never shifted out
        _generator.ShiftContext(r.Cache, r.Sequence.AsSpan(0, r.Length), r.Logits);
        return Next.Shifted;
    }

    private static void Complete(Request r, FinishReason? reason)
    {
        if (reason is { } why) r.Sink.Finish(why);
        r.Completion.TrySetResult(new GenerationResult([r.Sink.Complete()], r.Prompt, r.Truncated));
    }

    /// <summary>Stops the loop; requests still running complete with <c>cancelled</c>.</summary>
    public void Dispose()
    {
        _incoming.Writer.TryComplete();
        _shutdown.Cancel();
        try { _loop.Wait(); } catch (AggregateException) { }
        _shutdown.Dispose();
    }
}
