// BatchLoader: cuts (B,T) input/target batches out of a token sequence, sequentially (llm.c) or at random (nanoGPT).
using NextToken.Tensors;

namespace NextToken.Data;

/// <summary>
/// Produces batches of <c>BatchSize</c> rows of <c>SequenceLength</c> tokens. Row b's inputs are the tokens at
/// <c>start_b .. start_b+T-1</c> and its targets the tokens one further, <c>start_b+1 .. start_b+T</c>, so each row
/// needs a window of T+1 tokens. Nothing is allocated per batch; the whole state is a
/// <see cref="BatchLoaderState"/> that can be saved with a checkpoint and restored.
/// </summary>
public sealed class BatchLoader : IBatchSource
{
    private readonly ITokenSource _source;
    private long _position;
    private Rng _rng;

    /// <summary>Batches over a (memory-mapped) token file. The loader does not own or dispose the file.</summary>
    public BatchLoader(TokenFile file, int batchSize, int sequenceLength, BatchOrder order, ulong seed)
        : this((ITokenSource)(file ?? throw new ArgumentNullException(nameof(file))), batchSize, sequenceLength, order, seed, file.Path)
    {
    }

    /// <summary>Batches over tokens held in memory. The array is used as is, not copied.</summary>
    public BatchLoader(int[] tokens, int batchSize, int sequenceLength, BatchOrder order, ulong seed)
        : this(new ArrayTokenSource(tokens ?? throw new ArgumentNullException(nameof(tokens))), batchSize, sequenceLength, order, seed, "the token array")
    {
    }

    private BatchLoader(ITokenSource source, int batchSize, int sequenceLength, BatchOrder order, ulong seed, string what)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        if (!Enum.IsDefined(order)) throw new ArgumentOutOfRangeException(nameof(order), $"unknown batch order {order}");
        if (source.Count < (long)sequenceLength + 1)
            throw new ArgumentException($"{what} has {source.Count} tokens, but a sequence of {sequenceLength} needs at least {sequenceLength + 1} (inputs plus the next-token target): use more data or a shorter sequence length");
        _source = source;
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
        Order = order;
        _rng = new Rng(seed);
    }

    /// <summary>Rows per batch (B).</summary>
    public int BatchSize { get; }

    /// <summary>Tokens per row (T).</summary>
    public int SequenceLength { get; }

    /// <summary>Sequential or random windows.</summary>
    public BatchOrder Order { get; }

    /// <inheritdoc/>
    public bool HasWeights => false;
    /// <inheritdoc/>
    public bool HasDocuments => false;
    /// <inheritdoc/>
    void IBatchSource.Next(Span<int> inputs, Span<int> targets, Span<float> weights, Span<int> documentIds) => Next(inputs, targets);

    /// <summary>Number of tokens in the underlying sequence.</summary>
    public long TokenCount => _source.Count;

    /// <summary>
    /// Fills <paramref name="inputs"/> and <paramref name="targets"/>, both (B,T) row-major, with the next batch;
    /// <c>targets</c> is <c>inputs</c> shifted left by one token within the sequence.
    /// </summary>
    public void Next(Span<int> inputs, Span<int> targets)
    {
        int bt = BatchSize * SequenceLength;
        if (inputs.Length != bt) throw new ArgumentException($"inputs has {inputs.Length} elements, expected batch × sequence = {BatchSize} × {SequenceLength} = {bt}", nameof(inputs));
        if (targets.Length != bt) throw new ArgumentException($"targets has {targets.Length} elements, expected batch × sequence = {BatchSize} × {SequenceLength} = {bt}", nameof(targets));
        int t = SequenceLength;
        long lastStart = _source.Count - t - 1; // the last window of T+1 tokens starts here
        for (int b = 0; b < BatchSize; b++)
        {
            long start;
            if (Order == BatchOrder.Sequential)
            {
                // llm.c reads B*T+1 tokens at the position and advances by B*T, which is exactly rows at
                // position + b*T. We wrap per row rather than per batch, so a file shorter than B*T+1 tokens
                // still works and no tail is skipped; when the file is long the two agree until the wrap.
                if (_position > lastStart) _position = 0;
                start = _position;
                _position += t;
            }
            else
            {
                start = NextLong(ref _rng, lastStart + 1);
            }
            _source.Read(start, inputs.Slice(b * t, t));
            _source.Read(start + 1, targets.Slice(b * t, t));
        }
    }

    /// <summary>The loader's state: save it next to the model, <see cref="Restore"/> it to resume.</summary>
    public BatchLoaderState State => new(_position, _rng.State, _rng.Increment);

    /// <summary>Puts the loader back to a saved <paramref name="state"/>.</summary>
    public void Restore(BatchLoaderState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Position < 0 || state.Position > _source.Count)
            throw new ArgumentOutOfRangeException(nameof(state), $"saved position {state.Position} is outside the {_source.Count} tokens; was the state saved for different data?");
        if ((state.RngIncrement & 1) == 0)
            throw new ArgumentOutOfRangeException(nameof(state), "saved RNG increment is even, which PCG32 never produces; the state is corrupt");
        _position = state.Position;
        _rng.State = state.RngState;
        _rng.Increment = state.RngIncrement;
    }

    // Uniform in [0, maxExclusive) for 64-bit ranges; corpora may hold more than 2^31 tokens.
    private static long NextLong(ref Rng rng, long maxExclusive)
    {
        if (maxExclusive <= int.MaxValue) return rng.NextInt((int)maxExclusive);
        ulong range = (ulong)maxExclusive;
        ulong limit = ulong.MaxValue - ulong.MaxValue % range; // reject the incomplete last block: no modulo bias
        while (true)
        {
            ulong x = ((ulong)rng.NextUInt() << 32) | rng.NextUInt();
            if (x < limit) return (long)(x % range);
        }
    }
}
