// Generator: runs any decoding strategy over an ICausalLm with a KV cache; a reusable library type (CLI, server, PPO).
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tokenization;

namespace NextToken.Generation;

/// <summary>
/// Generates continuations of token prompts. One generator serves many calls and, because every call owns its
/// caches and scratch, concurrent calls on one generator are safe (the model pools its own scratch).
/// Prompts longer than the context keep their last <see cref="ICausalLm.ContextLength"/> tokens
/// (<see cref="GenerationResult.PromptTruncated"/>). When a sequence fills the context, greedy, sampling and
/// contrastive decoding slide the window (<see cref="ContextShiftKeep"/>) and go on to
/// <see cref="GenerationOptions.MaxNewTokens"/>; beam search and speculative decoding end with <c>length</c> there.
/// </summary>
public sealed partial class Generator
{
    internal const ulong RngStream = 0x5EED;
    private readonly ICausalLm _model;
    private readonly ICausalLm? _draft;
    private readonly ITokenizer? _tokenizer;

    /// <summary>
    /// Creates a generator for <paramref name="model"/>. <paramref name="tokenizer"/> turns tokens into text (stop
    /// strings and streaming need it); <paramref name="draft"/> is the small model of speculative decoding and must
    /// share the vocabulary.
    /// </summary>
    public Generator(ICausalLm model, ITokenizer? tokenizer = null, ICausalLm? draft = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (tokenizer is not null && tokenizer.VocabSize > model.VocabSize)
            throw new ArgumentException($"the tokenizer has {tokenizer.VocabSize} ids but the model only {model.VocabSize}: they do not belong together");
        if (draft is not null && draft.VocabSize != model.VocabSize)
            throw new ArgumentException($"the draft model's vocabulary ({draft.VocabSize} ids) differs from the target's ({model.VocabSize}); speculative decoding needs a draft trained with the same tokenizer");
        _model = model;
        _tokenizer = tokenizer;
        _draft = draft;
        EndOfTextId = tokenizer?.EndOfTextId;
    }

    /// <summary>The target model.</summary>
    public ICausalLm Model => _model;
    /// <summary>The tokenizer, when text is wanted.</summary>
    public ITokenizer? Tokenizer => _tokenizer;
    /// <summary>The draft model of speculative decoding, if any.</summary>
    public ICausalLm? Draft => _draft;
    /// <summary>The id that ends a sequence (the tokenizer's &lt;|endoftext|&gt; by default; null: none).</summary>
    public int? EndOfTextId { get; init; }

    /// <summary>
    /// The token an empty prompt starts from: end-of-text when the tokenizer has one (GPT-2's convention for
    /// unconditional samples), else a newline when the vocabulary has it, else id 0.
    /// </summary>
    public int StartToken
    {
        get
        {
            if (EndOfTextId is int eot) return eot;
            if (_tokenizer is not null)
            {
                try { var nl = _tokenizer.Encode("\n"); if (nl.Length == 1) return nl[0]; }
                catch (ArgumentException) { } // a character vocabulary without a newline
            }
            return 0;
        }
    }

    /// <summary>
    /// The text of prompt tokens as a user should see it: decoded, with end-of-text ids left out (as in
    /// <see cref="GeneratedSequence.Text"/>), so an empty prompt, which starts from end-of-text, shows as "".
    /// </summary>
    public string PromptText(IReadOnlyList<int> prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (_tokenizer is null) throw new InvalidOperationException("this generator has no tokenizer: it cannot turn tokens into text");
        var ids = EndOfTextId is int eot ? prompt.Where(t => t != eot).ToArray() : prompt.ToArray();
        return _tokenizer.Decode(ids);
    }

    /// <summary>
    /// Tokens a sequence keeps when it fills the model's context of <paramref name="contextLength"/>: the most recent
    /// half (at least one), the token just chosen included. They are run into the cleared cache exactly as a fresh run
    /// with them as its prompt would run them (llama.cpp's context shift, without its kept prefix), so every later
    /// token equals that fresh run's; earlier positions are forgotten.
    /// </summary>
    public static int ContextShiftKeep(int contextLength) => Math.Max(1, contextLength / 2);

    // The context shift: the last ContextShiftKeep tokens of the sequence go through the cleared cache as a prompt;
    // logits receives the next-token row.
    internal void ShiftContext(KvCache cache, ReadOnlySpan<int> sequence, Span<float> logits)
    {
        int keep = Math.Min(sequence.Length, ContextShiftKeep(_model.ContextLength));
        cache.Clear();
        _model.Forward(cache, sequence[^keep..], logits);
    }

    /// <summary>Encodes <paramref name="prompt"/>; an empty prompt becomes [<see cref="StartToken"/>].</summary>
    public int[] Encode(string prompt)
    {
        if (string.IsNullOrEmpty(prompt)) return [StartToken];
        if (_tokenizer is null) throw new InvalidOperationException("this generator has no tokenizer: pass token ids instead of text");
        return _tokenizer.Encode(prompt);
    }

    /// <summary>Generates from a text prompt (see <see cref="Encode"/>).</summary>
    public GenerationResult Generate(string prompt, GenerationOptions options, Action<string>? onText = null, CancellationToken cancellationToken = default) =>
        Generate(Encode(prompt), options, onText, cancellationToken);

    /// <summary>
    /// Generates from token ids. <paramref name="onText"/> receives the text of the first sequence piece by piece as
    /// it is produced (never half a character). Cancellation ends every sequence with <see cref="FinishReason.Cancelled"/>.
    /// </summary>
    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<string>? onText = null, CancellationToken cancellationToken = default) =>
        GenerateCore(prompt, options, onText is null ? null : p => onText(p.Text), cancellationToken);

    // Generate with the richer streaming callback (text and the tokens behind it); BatchScheduler's fallback uses it too.
    internal GenerationResult GenerateCore(IReadOnlyList<int> prompt, GenerationOptions options, Action<TextPiece>? onPiece, CancellationToken cancellationToken)
    {
        options.Validate();
        var (ids, truncated) = PreparePrompt(prompt);
        switch (options.Strategy)
        {
            case DecodingStrategy.Beam:
                return new GenerationResult(BeamSearch(ids, options, cancellationToken), ids, truncated);
            case DecodingStrategy.Greedy or DecodingStrategy.Sample:
                return SampleBatch([ids], [truncated], options, onPiece, cancellationToken)[0];
        }
        var sequences = new List<GeneratedSequence>();
        long drafted = 0, accepted = 0, forwards = 0;
        for (int i = 0; i < options.NumSequences; i++)
        {
            var rng = new Rng(options.Seed + (ulong)i, RngStream);
            var sink = NewSink(options, i == 0 ? onPiece : null);
            if (options.Strategy == DecodingStrategy.Contrastive) forwards += Contrastive(ids, options, sink, cancellationToken);
            else
            {
                if (options.Strategy == DecodingStrategy.Speculative && _draft is null)
                    throw new InvalidOperationException("speculative decoding needs a draft model: construct the generator with one");
                var s = Speculative(ids, options, options.Strategy == DecodingStrategy.Speculative ? _draft : null, sink, ref rng, cancellationToken);
                drafted += s.Drafted; accepted += s.Accepted; forwards += s.Forwards;
            }
            sequences.Add(sink.Complete());
        }
        return new GenerationResult(sequences, ids, truncated) { DraftedTokens = drafted, AcceptedTokens = accepted, TargetForwards = forwards };
    }

    /// <summary>
    /// Generates for several prompts of different lengths at once. Greedy and sampling run every sequence's step in
    /// one <see cref="ICausalLm.ForwardBatch"/> (one cache per sequence); each sequence draws from its own generator
    /// seeded as in a single run, so the outputs equal one-at-a-time runs. Other strategies run one prompt at a time.
    /// </summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        options.Validate();
        if (options.Strategy is not (DecodingStrategy.Greedy or DecodingStrategy.Sample))
            return prompts.Select(p => Generate(p, options, null, cancellationToken)).ToArray();
        var prepared = prompts.Select(PreparePrompt).ToArray();
        return SampleBatch(prepared.Select(p => p.Ids).ToArray(), prepared.Select(p => p.Truncated).ToArray(), options, null, cancellationToken);
    }

    /// <summary>Streams the first sequence's text as pieces that never split a UTF-8 character nor show a stop string.</summary>
    public async IAsyncEnumerable<string> StreamAsync(IReadOnlyList<int> prompt, GenerationOptions options, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options = options.Validate() with { NumSequences = 1 };
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        // The producer also stops when the consumer stops enumerating early (the linked source is cancelled below).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Run(() =>
        {
            try { Generate(prompt, options, piece => channel.Writer.TryWrite(piece), stop.Token); channel.Writer.TryComplete(); }
            catch (Exception e) { channel.Writer.TryComplete(e); }
        }, CancellationToken.None);
        try
        {
            await foreach (var piece in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                yield return piece;
        }
        finally
        {
            stop.Cancel();
            await producer.ConfigureAwait(false);
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Streams from a text prompt (see <see cref="Encode"/>).</summary>
    public IAsyncEnumerable<string> StreamAsync(string prompt, GenerationOptions options, CancellationToken cancellationToken = default) =>
        StreamAsync(Encode(prompt), options, cancellationToken);

    internal (int[] Ids, bool Truncated) PreparePrompt(IReadOnlyList<int> prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Count == 0) return ([StartToken], false);
        int V = _model.VocabSize;
        foreach (int id in prompt)
            if ((uint)id >= (uint)V) throw new ArgumentOutOfRangeException(null, $"prompt token id {id} is outside the vocabulary (0..{V - 1})");
        int keep = Math.Min(prompt.Count, _model.ContextLength);
        return (prompt.Skip(prompt.Count - keep).ToArray(), keep < prompt.Count);
    }

    internal SequenceSink NewSink(GenerationOptions o, Action<TextPiece>? onPiece)
    {
        if (o.StopStrings.Count > 0 && _tokenizer is null) throw new InvalidOperationException("stop strings need a tokenizer to see text; construct the generator with one");
        return new SequenceSink(_tokenizer, EndOfTextId, o, onPiece);
    }

    private sealed class Row(int[] prompt, int capacity, KvCache cache, SequenceSink sink, Rng rng)
    {
        public readonly int PromptLength = prompt.Length;
        public readonly int[] Sequence = Init(prompt, capacity);
        public int Length = prompt.Length;
        public readonly KvCache Cache = cache;
        public readonly SequenceSink Sink = sink;
        public Rng Rng = rng;
        public bool Done;

        private static int[] Init(int[] prompt, int capacity)
        {
            var s = new int[capacity];
            prompt.CopyTo(s, 0);
            return s;
        }
    }

    // Greedy and ancestral sampling for B prompts × NumSequences rows: prefill each row, then one ForwardBatch per step.
    // A row whose cache is full slides its context (ShiftContext) instead of stepping with the others.
    private GenerationResult[] SampleBatch(int[][] prompts, bool[] truncated, GenerationOptions o, Action<TextPiece>? onPiece, CancellationToken ct)
    {
        int V = _model.VocabSize, n = o.NumSequences;
        var rows = new Row[prompts.Length * n];
        var pipeline = new LogitsPipeline(V, o, EndOfTextId);
        var raw = new float[rows.Length * V];
        var processed = new float[V];
        long forwards = 0;
        for (int p = 0; p < prompts.Length; p++)
            for (int j = 0; j < n; j++)
            {
                var row = rows[p * n + j] = new Row(prompts[p], prompts[p].Length + o.MaxNewTokens + 1, _model.CreateCache(),
                                                    NewSink(o, p == 0 && j == 0 ? onPiece : null), new Rng(o.Seed + (ulong)j, RngStream));
                if (o.MaxNewTokens == 0) { row.Done = true; row.Sink.Finish(FinishReason.Length); continue; }
                _model.Forward(row.Cache, prompts[p], raw.AsSpan((p * n + j) * V, V));
                forwards++;
            }
        var active = new KvCache[rows.Length];
        var tokens = new int[rows.Length];
        var index = new int[rows.Length];
        var shifting = new int[rows.Length];
        while (true)
        {
            int m = 0, shifts = 0;
            for (int r = 0; r < rows.Length; r++)
            {
                var row = rows[r];
                if (row.Done) continue;
                if (ct.IsCancellationRequested) { row.Sink.Finish(FinishReason.Cancelled); row.Done = true; continue; }
                var rawRow = raw.AsSpan(r * V, V);
                rawRow.CopyTo(processed);
                pipeline.Apply(processed, row.Sequence.AsSpan(0, row.Length), row.PromptLength);
                int t = o.IsGreedy ? Sampling.ArgMax(processed) : Sampling.Sample(processed, ref row.Rng);
                row.Sequence[row.Length++] = t;
                if (!row.Sink.Add(t, rawRow)) { row.Done = true; continue; }
                if (row.Cache.Length >= row.Cache.Capacity) { shifting[shifts++] = r; continue; }
                active[m] = row.Cache;
                tokens[m] = t;
                index[m++] = r;
            }
            if (m == 0 && shifts == 0) break;
            if (m > 0)
            {
                // Logits of active row k land in slot k; move them to their row's slot (rows only ever leave, so k ≤ index[k]).
                _model.ForwardBatch(active.AsSpan(0, m), tokens.AsSpan(0, m), raw.AsSpan(0, m * V));
                forwards++;
                for (int k = m - 1; k >= 0; k--)
                    if (index[k] != k) raw.AsSpan(k * V, V).CopyTo(raw.AsSpan(index[k] * V, V));
            }
            // After the moves, so the batch's slots cannot overwrite a shifted row's fresh logits.
            for (int s = 0; s < shifts; s++)
            {
                var row = rows[shifting[s]];
                ShiftContext(row.Cache, row.Sequence.AsSpan(0, row.Length), raw.AsSpan(shifting[s] * V, V));
                forwards++;
            }
        }
        var results = new GenerationResult[prompts.Length];
        for (int p = 0; p < prompts.Length; p++)
            results[p] = new GenerationResult(rows.Skip(p * n).Take(n).Select(r => r.Sink.Complete()).ToArray(), prompts[p], truncated[p]) { TargetForwards = forwards };
        return results;
    }
}
