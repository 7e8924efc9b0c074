// SftBatches: fine-tuning examples cut into (B, T) rows — one example per row, or packed best-fit-decreasing with
// document masks — served in a shuffled order per epoch with per-target loss weights.
using NextToken.Data;
using NextToken.Tensors;

namespace NextToken.FineTuning;

/// <summary>
/// Rows of T + 1 token slots (inputs are slots 0..T−1, targets 1..T). Unpacked: one example per row, padded with
/// weight-0 targets. Packed (<c>--packing</c>): examples sorted by length, longest first, each placed into the open row
/// with the least room that still fits it (best-fit decreasing), a new row when none does; within a row each example is
/// its own document (the model masks attention across documents and restarts positions), and the target that would
/// cross from one example into the next has weight 0. Epoch e visits the rows in a shuffle seeded by (seed, e), so the
/// state is just the number of rows served.
/// </summary>
public sealed class SftBatches : IBatchSource
{
    private readonly int[][] _tokens;
    private readonly float[][] _weights;
    private readonly int[][]? _docs;
    private readonly ulong _seed;
    private int[] _order = [];
    private long _epochOfOrder = -1;
    private long _served;

    private SftBatches(int[][] tokens, float[][] weights, int[][]? docs, int batchSize, int sequenceLength, ulong seed, long realTokens)
    {
        _tokens = tokens;
        _weights = weights;
        _docs = docs;
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
        _seed = seed;
        PackingEfficiency = realTokens / (double)((long)tokens.Length * (sequenceLength + 1));
    }

    /// <summary>Cuts <paramref name="examples"/> (each at most T + 1 tokens) into rows.</summary>
    public static SftBatches Create(IReadOnlyList<SftExample> examples, int batchSize, int sequenceLength, bool packing, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        if (examples.Count == 0) throw new ArgumentException("no examples to cut into rows");
        int slots = sequenceLength + 1;
        foreach (var e in examples)
            if (e.Tokens.Length > slots) throw new ArgumentException($"an example has {e.Tokens.Length} tokens, more than a row's {slots} (truncate it when reading)");
        var rows = new List<List<int>>();
        if (packing)
        {
            var room = new List<int>();
            foreach (int i in Enumerable.Range(0, examples.Count).OrderByDescending(i => examples[i].Tokens.Length).ThenBy(i => i))
            {
                int len = examples[i].Tokens.Length, best = -1;
                for (int r = 0; r < rows.Count; r++)
                    if (room[r] >= len && (best < 0 || room[r] < room[best])) best = r;
                if (best < 0) { rows.Add([]); room.Add(slots); best = rows.Count - 1; }
                rows[best].Add(i);
                room[best] -= len;
            }
        }
        else rows.AddRange(Enumerable.Range(0, examples.Count).Select(i => new List<int> { i }));

        var tokens = new int[rows.Count][];
        var weights = new float[rows.Count][];
        var docs = packing ? new int[rows.Count][] : null;
        long real = 0;
        for (int r = 0; r < rows.Count; r++)
        {
            var tok = new int[slots];
            var trained = new bool[slots];
            var doc = new int[slots];
            int at = 0, d = 0;
            foreach (int i in rows[r])
            {
                var e = examples[i];
                e.Tokens.CopyTo(tok, at);
                e.Trained.CopyTo(trained, at);
                for (int k = 0; k < e.Tokens.Length; k++) doc[at + k] = d;
                at += e.Tokens.Length;
                d++;
            }
            real += at;
            for (int k = at; k < slots; k++) doc[k] = d; // padding: a document of its own
            var w = new float[sequenceLength];
            for (int t = 0; t < sequenceLength; t++) w[t] = t + 1 < at && doc[t] == doc[t + 1] && trained[t + 1] ? 1f : 0f;
            tokens[r] = tok;
            weights[r] = w;
            if (docs is not null) docs[r] = doc[..sequenceLength];
        }
        return new SftBatches(tokens, weights, docs, batchSize, sequenceLength, seed, real);
    }

    /// <inheritdoc/>
    public int BatchSize { get; }
    /// <inheritdoc/>
    public int SequenceLength { get; }
    /// <inheritdoc/>
    public bool HasWeights => true;
    /// <inheritdoc/>
    public bool HasDocuments => _docs is not null;
    /// <summary>Rows the examples fill.</summary>
    public int Rows => _tokens.Length;
    /// <summary>Example tokens over all row slots (1 when every row is full).</summary>
    public double PackingEfficiency { get; }
    /// <summary>Targets with weight 1 over all rows (one epoch).</summary>
    public long TrainedTargets => _weights.Sum(w => (long)w.Count(x => x > 0));

    /// <inheritdoc/>
    public void Next(Span<int> inputs, Span<int> targets, Span<float> weights, Span<int> documentIds)
    {
        int B = BatchSize, T = SequenceLength;
        if (inputs.Length < B * T || targets.Length < B * T || weights.Length < B * T || (_docs is not null && documentIds.Length < B * T))
            throw new ArgumentException($"batch buffers must hold B·T = {B * T} values");
        for (int b = 0; b < B; b++)
        {
            long epoch = _served / Rows;
            if (epoch != _epochOfOrder) Shuffle(epoch);
            int r = _order[(int)(_served % Rows)];
            _served++;
            _tokens[r].AsSpan(0, T).CopyTo(inputs.Slice(b * T, T));
            _tokens[r].AsSpan(1, T).CopyTo(targets.Slice(b * T, T));
            _weights[r].CopyTo(weights.Slice(b * T, T));
            _docs?[r].CopyTo(documentIds.Slice(b * T, T));
        }
    }

    private void Shuffle(long epoch)
    {
        var rng = new Rng(_seed ^ (0x9E3779B97F4A7C15UL * (ulong)(epoch + 1)));
        _order = [.. Enumerable.Range(0, Rows)];
        rng.Shuffle<int>(_order);
        _epochOfOrder = epoch;
    }

    /// <summary>Rows served so far (the whole state: the order of every epoch follows from the seed).</summary>
    public BatchLoaderState State => new(_served, 0, 0);

    /// <inheritdoc/>
    public void Restore(BatchLoaderState state)
    {
        if (state.Position < 0) throw new ArgumentException($"a saved position of {state.Position} rows is invalid");
        _served = state.Position;
        _epochOfOrder = -1;
    }

    /// <summary>A fresh source over the same rows in their stored order (validation: every row once, same each time).</summary>
    public SftBatches Sequential() => new(_tokens, _weights, _docs, BatchSize, SequenceLength, _seed, 0) { _order = [.. Enumerable.Range(0, Rows)], _epochOfOrder = 0 };
}
