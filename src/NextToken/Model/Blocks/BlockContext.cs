// BlockContext: what a block's forward or backward needs besides its own tensors — arenas, batch shape, positions,
// document mask, dropout, and (when decoding) the KV caches.
using NextToken.Tensors;

namespace NextToken.Model.Blocks;

/// <summary>
/// One call's context, passed down the flat list of block calls. <see cref="Caches"/> empty: a training/evaluation
/// forward over (B, T) rows with <see cref="KeyStart"/> as the document mask; non-empty: KV-cache decoding, where
/// the N rows are <see cref="PerCache"/> new positions of each cache.
/// </summary>
internal ref struct BlockContext
{
    public ParameterStore Ps;
    /// <summary>The activation arena (training: one slot per saved tensor; decoding: one layer's scratch reused by every layer).</summary>
    public float[] A;
    /// <summary>The backward scratch arena (gradient buffers shared by all layers); null in a forward-only model.</summary>
    public float[]? D;
    public BackwardBuffers? DSlots;
    public int B, T, N;
    /// <summary>(N) position of each row (RoPE, learned and sinusoidal tables).</summary>
    public ReadOnlySpan<int> Positions;
    /// <summary>(N) first key each row may attend to (packed documents), or empty for plain causal attention.</summary>
    public ReadOnlySpan<int> KeyStart;
    /// <summary>Dropout probability in this call (0 when not training).</summary>
    public float Dropout;
    public ref Rng Rng;
    /// <summary>KV caches (decoding), empty in training.</summary>
    public ReadOnlySpan<KvCache> Caches;
    public int PerCache, Layer;
    /// <summary>(N, NH·HS) contiguous queries for the decode kernel.</summary>
    public Span<float> DecodeQ;

    public readonly Span<float> this[TensorSlot s] => A.AsSpan((int)s.Offset, (int)s.Length);
    public readonly Span<float> Grad(TensorSlot s) => D!.AsSpan((int)s.Offset, (int)s.Length);
}
