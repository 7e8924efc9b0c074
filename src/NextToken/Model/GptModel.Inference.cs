// GptModel.Inference: incremental forward over KV caches for generation (ICausalLm) — the training blocks, new rows only.
using System.Collections.Concurrent;
using NextToken.Kernels;
using NextToken.Model.Blocks;
using NextToken.Tensors;

namespace NextToken.Model;

public sealed partial class GptModel
{
    // Scratch for inference, pooled so concurrent generators (the server) never share buffers and a step allocates nothing.
    private readonly ConcurrentBag<InferenceScratch> _scratchPool = new();

    // One block's activations for R rows, reused by every layer (each block reads its input before writing its output),
    // plus the embedding, the final hidden state, contiguous queries for the decode kernel and the positions.
    private sealed class InferenceScratch
    {
        public readonly int Rows;
        public readonly float[] Data;
        public readonly int[] Positions;
        public readonly TensorSlot Encoded, Hidden, Mean, Rstd, Query, Last;
        public readonly BlockActivations Block;

        public InferenceScratch(GptConfig cfg, int rows)
        {
            Rows = rows;
            int C = cfg.EmbeddingSize;
            var layout = new TensorLayout();
            TensorSlot Add(string n, params int[] s) => layout.Add(n, TensorKind.Activation, s);
            Encoded = Add("encoded", rows, C); Hidden = Add("hidden", rows, C); Mean = Add("mean", rows); Rstd = Add("rstd", rows);
            Query = Add("query", rows, cfg.Heads * cfg.HeadSize); Last = Add("last", rows, C);
            Block = BlockActivations.Declare(layout, "block.", cfg, rows, 1, Add("proj", rows, C), dropout: false);
            Data = new float[layout.Size];
            Positions = new int[rows];
        }

        public Span<float> this[TensorSlot s] => Data.AsSpan((int)s.Offset, (int)s.Length);
    }

    /// <inheritdoc/>
    public KvCache CreateCache() => new(Config.Layers, Config.ContextLength, Config.KvSize);

    /// <inheritdoc/>
    public void Forward(KvCache cache, ReadOnlySpan<int> tokens, Span<float> logits, bool allPositions = false, Span<float> lastHidden = default)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (tokens.IsEmpty) throw new ArgumentException("at least one token is needed", nameof(tokens));
        int need = (allPositions ? tokens.Length : 1) * Config.VocabSize;
        if (logits.Length < need) throw new ArgumentException($"logits needs {need} floats", nameof(logits));
        if (!lastHidden.IsEmpty && lastHidden.Length < Config.EmbeddingSize) throw new ArgumentException($"lastHidden needs {Config.EmbeddingSize} floats", nameof(lastHidden));
        Run(new ReadOnlySpan<KvCache>(ref cache), tokens, tokens.Length, logits, allPositions, lastHidden); // no array per call
    }

    /// <summary>
    /// Appends positions whose inputs are embedding vectors rather than tokens (an image prefix, a soft prompt) to
    /// <paramref name="cache"/>: <paramref name="embeddings"/> is (P, C); position embeddings are added as for tokens,
    /// exactly as a training forward with <see cref="BatchLayout.PrefixEmbeddings"/> does. <paramref name="logits"/>
    /// (V, optional) receives the last position's logits.
    /// </summary>
    public void ForwardEmbeddings(KvCache cache, ReadOnlySpan<float> embeddings, Span<float> logits = default)
    {
        ArgumentNullException.ThrowIfNull(cache);
        int C = Config.EmbeddingSize;
        if (embeddings.IsEmpty || embeddings.Length % C != 0)
            throw new ArgumentException($"embeddings must be (P, C) with C = {C}: got {embeddings.Length} floats", nameof(embeddings));
        int P = embeddings.Length / C;
        var dummy = P <= 512 ? stackalloc int[P] : new int[P];
        dummy.Clear();
        var sink = logits.IsEmpty ? new float[Config.VocabSize] : logits;
        Run(new ReadOnlySpan<KvCache>(ref cache), dummy, P, sink, allPositions: false, default, embeddings);
    }

    /// <summary>
    /// Prefills <paramref name="cache"/> with a prompt and an image's embeddings (P, C; empty: the prompt alone) in the
    /// order the model was trained with: the image first, or after the prompt for <see cref="GptConfig.ImageAfterPrompt"/>.
    /// <paramref name="logits"/> (V) receives the last position's logits.
    /// </summary>
    public void Prefill(KvCache cache, ReadOnlySpan<int> prompt, ReadOnlySpan<float> image, Span<float> logits)
    {
        if (image.IsEmpty) { Forward(cache, prompt, logits); return; }
        if (Config.ImageAfterPrompt)
        {
            if (!prompt.IsEmpty) Forward(cache, prompt, logits);
            ForwardEmbeddings(cache, image, logits);
            return;
        }
        ForwardEmbeddings(cache, image);
        Forward(cache, prompt, logits);
    }

    /// <inheritdoc/>
    public void ForwardBatch(ReadOnlySpan<KvCache> caches, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (caches.Length != tokens.Length) throw new ArgumentException($"{caches.Length} caches but {tokens.Length} tokens: one token per sequence");
        if (caches.IsEmpty) return;
        if (logits.Length < caches.Length * Config.VocabSize) throw new ArgumentException($"logits needs {caches.Length * Config.VocabSize} floats", nameof(logits));
        Run(caches, tokens, 1, logits, allPositions: false, default);
    }

    /// <summary>
    /// <paramref name="perCache"/> new tokens for each of several sequences in one forward (rows cache-major:
    /// <paramref name="tokens"/> is (caches.Length, perCache)); <paramref name="logits"/> receives every position,
    /// (caches.Length · perCache, VocabSize). Few-shot scoring runs all the choices of a question this way.
    /// </summary>
    internal void ForwardMany(ReadOnlySpan<KvCache> caches, ReadOnlySpan<int> tokens, int perCache, Span<float> logits)
    {
        if (caches.IsEmpty) return;
        if (perCache < 1 || tokens.Length != caches.Length * perCache) throw new ArgumentException($"{tokens.Length} tokens for {caches.Length} caches of {perCache} each");
        if (logits.Length < tokens.Length * Config.VocabSize) throw new ArgumentException($"logits needs {tokens.Length * Config.VocabSize} floats", nameof(logits));
        Run(caches, tokens, perCache, logits, allPositions: true, default);
    }

    private void Run(ReadOnlySpan<KvCache> caches, ReadOnlySpan<int> tokens, int perCache, Span<float> logits, bool allPositions, Span<float> lastHidden,
                     ReadOnlySpan<float> embeddings = default)
    {
        int C = Config.EmbeddingSize, V = Config.VocabSize, R = caches.Length * perCache;
        CheckTokens(tokens, "input token");
        foreach (var c in caches)
        {
            if (c.Layers != Config.Layers || c.Width != Config.KvSize || c.Capacity != Config.ContextLength)
                throw new ArgumentException("this KV cache was created for a different model");
            if (c.Length + perCache > c.Capacity)
                throw new InvalidOperationException($"the context is full: {c.Length} + {perCache} positions exceed the model's context length {c.Capacity}");
        }
        if (!_scratchPool.TryTake(out var s) || s.Rows < R) s = new InferenceScratch(Config, Math.Max(R, 1));
        try
        {
            var pos = s.Positions.AsSpan(0, R);
            for (int r = 0; r < R; r++) pos[r] = caches[r / perCache].Length + r % perCache;
            var ctx = new BlockContext
            {
                Ps = _ps, A = s.Data, B = R, T = 1, N = R, Positions = pos, Caches = caches, PerCache = perCache,
                DecodeQ = s[s.Query][..(R * Config.Heads * Config.HeadSize)],
            };
            ctx.Rng = ref DropoutRng;

            var x = s[s.Encoded][..(R * C)];
            Encoder.Forward(tokens, _ps.P(_arch.TokenEmbedding), PositionTable, pos, x, R, C);
            if (!embeddings.IsEmpty)
                for (int r = 0; r < R; r++)
                {
                    var row = x.Slice(r * C, C);
                    embeddings.Slice(r * C, C).CopyTo(row);
                    if (!PositionTable.IsEmpty) System.Numerics.Tensors.TensorPrimitives.Add(row, PositionTable.Slice(pos[r] * C, C), row);
                }
            ReadOnlySpan<float> h = x;
            for (int l = 0; l < Config.Layers; l++)
            {
                ctx.Layer = l;
                _arch.Blocks[l].Forward(in ctx, h, s.Block);
                h = s[s.Block.Out][..(R * C)];
            }
            foreach (var c in caches) c.Length += perCache;

            var hidden = s[s.Hidden][..(R * C)];
            if (_arch.FinalNorm is { } lnf) lnf.Forward(_ps, h, hidden, s[s.Mean], s[s.Rstd], R);
            else h.CopyTo(hidden);
            if (allPositions) Matmul.Forward(hidden, HeadWeight, default, logits, R, C, V);
            else
            {
                // Only each sequence's last position needs logits: gather those rows first.
                var last = s[s.Last][..(caches.Length * C)];
                for (int ci = 0; ci < caches.Length; ci++) hidden.Slice((ci * perCache + perCache - 1) * C, C).CopyTo(last.Slice(ci * C, C));
                Matmul.Forward(last, HeadWeight, default, logits, caches.Length, C, V);
            }
            if (!lastHidden.IsEmpty) hidden.Slice((R - 1) * C, C).CopyTo(lastHidden);
        }
        finally
        {
            _scratchPool.Add(s);
        }
    }
}
