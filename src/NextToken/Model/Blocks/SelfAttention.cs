// SelfAttention: multi-head, grouped-query or multi-query causal attention with a fused q/k/v projection, RoPE at
// explicit positions, document masks; the same block serves training, KV-cache decoding and batched decoding.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Model.Blocks;

/// <summary>
/// qkv = x·Wqkvᵀ (+b) with NH query heads, then NKV key heads, then NKV value heads ((NH + 2·NKV)·HS columns);
/// RoPE on q and k; y = attention(q, k, v) (query head h reads key/value head h / (NH/NKV)); out = y·Woᵀ (+b).
/// </summary>
public sealed class SelfAttention
{
    private readonly float[]? _cos, _sin;

    private SelfAttention(Linear qkv, Linear proj, int heads, int kvHeads, int headSize, float[]? cos, float[]? sin)
    {
        Qkv = qkv; Proj = proj; Heads = heads; KvHeads = kvHeads; HeadSize = headSize; _cos = cos; _sin = sin;
    }

    internal static SelfAttention Declare(TensorLayout layout, string name, GptConfig cfg, float[]? ropeCos, float[]? ropeSin) =>
        new(Linear.Declare(layout, name + ".c_attn", cfg.EmbeddingSize, cfg.QkvSize, cfg.Bias),
            Linear.Declare(layout, name + ".c_proj", cfg.Heads * cfg.HeadSize, cfg.EmbeddingSize, cfg.Bias),
            cfg.Heads, cfg.KvHeadCount, cfg.HeadSize, ropeCos, ropeSin);

    /// <summary>The fused q/k/v projection (C → (NH + 2·NKV)·HS).</summary>
    public Linear Qkv { get; }
    /// <summary>The output projection (NH·HS → C).</summary>
    public Linear Proj { get; }
    /// <summary>Query heads (NH).</summary>
    public int Heads { get; }
    /// <summary>Key/value heads (NKV).</summary>
    public int KvHeads { get; }
    /// <summary>Head size (HS).</summary>
    public int HeadSize { get; }

    // x (N, C) → y (N, C). Keeps qkv (N, (NH+2NKV)·HS, rotated), lse (B·NH·T) and atty (N, NH·HS) for backward.
    internal void Forward(in BlockContext ctx, ReadOnlySpan<float> x, Span<float> qkv, Span<float> lse, Span<float> atty, Span<float> y)
    {
        int N = ctx.N, Q = Qkv.Out, HS = HeadSize, NH = Heads, NKV = KvHeads;
        Qkv.Forward(ctx.Ps, x, qkv, N);
        if (_cos is not null) Rope.Apply(qkv, _cos, _sin, ctx.Positions, N, Q, NH + NKV, HS, inverse: false);
        if (ctx.Caches.IsEmpty) Attention.Forward(qkv, atty, lse, ctx.KeyStart, ctx.B, ctx.T, NH, NKV, HS);
        else Decode(in ctx, qkv, atty);
        Proj.Forward(ctx.Ps, atty, y, N);
    }

    // Appends each row's key and value to its cache, then attends over the cache (rows are PerCache positions per cache).
    private void Decode(in BlockContext ctx, Span<float> qkv, Span<float> atty)
    {
        int Q = Qkv.Out, Cq = Heads * HeadSize, Ck = KvHeads * HeadSize, per = ctx.PerCache, l = ctx.Layer;
        var q = ctx.DecodeQ;
        for (int r = 0; r < ctx.N; r++)
        {
            var row = qkv.Slice(r * Q, Q);
            var cache = ctx.Caches[r / per];
            int pos = cache.Length + r % per;
            row[..Cq].CopyTo(q.Slice(r * Cq, Cq));
            row.Slice(Cq, Ck).CopyTo(cache.LayerKeys(l).Slice(pos * Ck, Ck));
            row.Slice(Cq + Ck, Ck).CopyTo(cache.LayerValues(l).Slice(pos * Ck, Ck));
        }
        int n = ctx.Caches.Length;
        if (n == 1 || n > 4096) // (the pointer tables live on the stack)
        {
            for (int ci = 0; ci < n; ci++)
            {
                int tkc = ctx.Caches[ci].Length + per;
                Attention.Decode(q.Slice(ci * per * Cq, per * Cq), ctx.Caches[ci].LayerKeys(l)[..(tkc * Ck)], ctx.Caches[ci].LayerValues(l)[..(tkc * Ck)],
                                 atty.Slice(ci * per * Cq, per * Cq), per, tkc, Heads, KvHeads, HeadSize);
            }
            return;
        }
        // Several sequences: one parallel loop over every (sequence, row, head), not one small loop per sequence.
        if (q.Length < ctx.N * Cq || atty.Length < ctx.N * Cq) throw new ArgumentException("decode buffers are smaller than the batch");
        DecodeMany(ctx.Caches, l, per, q, atty);
    }

    private unsafe void DecodeMany(ReadOnlySpan<KvCache> caches, int layer, int per, Span<float> q, Span<float> atty)
    {
        int n = caches.Length;
        nint* keys = stackalloc nint[n], values = stackalloc nint[n];
        int* tk = stackalloc int[n];
        for (int ci = 0; ci < n; ci++)
        {
            keys[ci] = (nint)caches[ci].LayerKeysPointer(layer);
            values[ci] = (nint)caches[ci].LayerValuesPointer(layer);
            tk[ci] = caches[ci].Length + per;
        }
        fixed (float* pq = q, po = atty)
            Attention.DecodeMany(pq, (float**)keys, (float**)values, tk, po, n, per, Heads, KvHeads, HeadSize);
    }

    // dy (N, C) → dx (N, C) += the input gradient (skipped when empty); dAtty and dQkv are scratch.
    internal void Backward(in BlockContext ctx, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> qkv, ReadOnlySpan<float> lse,
                           ReadOnlySpan<float> atty, Span<float> dx, Span<float> dAtty, Span<float> dQkv)
    {
        int N = ctx.N;
        ParallelRows.Clear(dAtty);
        Proj.Backward(ctx.Ps, dy, atty, dAtty, N);
        ParallelRows.Clear(dQkv);
        Attention.Backward(dAtty, qkv, atty, lse, ctx.KeyStart, dQkv, ctx.B, ctx.T, Heads, KvHeads, HeadSize);
        // The backward of a rotation is the inverse rotation.
        if (_cos is not null) Rope.Apply(dQkv, _cos, _sin, ctx.Positions, N, Qkv.Out, Heads + KvHeads, HeadSize, inverse: true);
        Qkv.Backward(ctx.Ps, dQkv, x, dx, N);
    }
}
