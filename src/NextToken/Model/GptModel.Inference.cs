// GptModel.Inference: incremental forward over KV caches for generation (ICausalLm).
using System.Collections.Concurrent;
using NextToken.Kernels;

namespace NextToken.Model;

public sealed partial class GptModel
{
    // Scratch for inference, pooled so concurrent generators (the server) never share buffers and a step allocates nothing.
    private readonly ConcurrentBag<InferenceScratch> _scratchPool = new();

    private sealed class InferenceScratch(int rows, int C, int F)
    {
        public readonly int Rows = rows;
        public readonly float[] X = new float[rows * C], Ln = new float[rows * C], Qkv = new float[rows * 3 * C], Q = new float[rows * C],
            Atty = new float[rows * C], Tmp = new float[rows * C], Fch = new float[rows * F], FchGelu = new float[rows * F],
            Hidden = new float[rows * C], Mean = new float[rows], Rstd = new float[rows];
        public readonly int[] Positions = new int[rows];
    }

    /// <inheritdoc/>
    public KvCache CreateCache() => new(Config.Layers, Config.ContextLength, Config.EmbeddingSize);

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

    /// <inheritdoc/>
    public void ForwardBatch(ReadOnlySpan<KvCache> caches, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (caches.Length != tokens.Length) throw new ArgumentException($"{caches.Length} caches but {tokens.Length} tokens: one token per sequence");
        if (caches.IsEmpty) return;
        if (logits.Length < caches.Length * Config.VocabSize) throw new ArgumentException($"logits needs {caches.Length * Config.VocabSize} floats", nameof(logits));
        Run(caches, tokens, 1, logits, allPositions: false, default);
    }

    private void Run(ReadOnlySpan<KvCache> caches, ReadOnlySpan<int> tokens, int perCache, Span<float> logits, bool allPositions, Span<float> lastHidden)
    {
        int C = Config.EmbeddingSize, F = Config.MlpSize, NH = Config.Heads, V = Config.VocabSize, R = caches.Length * perCache;
        float eps = Config.LayerNormEpsilon;
        bool pre = Config.Norm == NormPlacement.Pre;
        CheckTokens(tokens, "input token");
        foreach (var c in caches)
        {
            if (c.Layers != Config.Layers || c.Width != C || c.Capacity != Config.ContextLength)
                throw new ArgumentException("this KV cache was created for a different model");
            if (c.Length + perCache > c.Capacity)
                throw new InvalidOperationException($"the context is full: {c.Length} + {perCache} positions exceed the model's context length {c.Capacity}");
        }
        if (!_scratchPool.TryTake(out var s) || s.Rows < R) s = new InferenceScratch(Math.Max(R, 1), C, F);
        try
        {
            var x = s.X.AsSpan(0, R * C);
            var ln = s.Ln.AsSpan(0, R * C);
            var qkv = s.Qkv.AsSpan(0, R * 3 * C);
            var q = s.Q.AsSpan(0, R * C);
            var atty = s.Atty.AsSpan(0, R * C);
            var tmp = s.Tmp.AsSpan(0, R * C);
            var fch = s.Fch.AsSpan(0, R * F);
            var fchg = s.FchGelu.AsSpan(0, R * F);
            var mean = s.Mean.AsSpan(0, R);
            var rstd = s.Rstd.AsSpan(0, R);
            var pos = s.Positions.AsSpan(0, R);
            for (int r = 0; r < R; r++) pos[r] = caches[r / perCache].Length + r % perCache;

            // Embeddings.
            ReadOnlySpan<float> posTable = _wpe is not null ? P(_wpe) : _fixedPositions;
            for (int r = 0; r < R; r++)
                Encoder.Forward(tokens.Slice(r, 1), P(_wte), posTable, x.Slice(r * C, C), 1, 1, C, pos[r]);

            for (int l = 0; l < Config.Layers; l++)
            {
                var w = _layers[l];
                ReadOnlySpan<float> attnIn = x;
                if (pre) { LayerNorm.Forward(x, P(w.Ln1W), P(w.Ln1B), ln, mean, rstd, R, C, eps); attnIn = ln; }
                MatmulForward(attnIn, P(w.Attn), P(w.AttnB), qkv, R, C, 3 * C);
                for (int r = 0; r < R; r++)
                {
                    var row = qkv.Slice(r * 3 * C, 3 * C);
                    if (_ropeCos is not null)
                    {
                        Rope.Apply(row, _ropeCos, _ropeSin, 1, 1, 3 * C, 0, C, NH, pos[r], inverse: false);
                        Rope.Apply(row, _ropeCos, _ropeSin, 1, 1, 3 * C, C, C, NH, pos[r], inverse: false);
                    }
                    var cache = caches[r / perCache];
                    row[..C].CopyTo(q.Slice(r * C, C));
                    row.Slice(C, C).CopyTo(cache.LayerKeys(l).Slice(pos[r] * C, C));
                    row.Slice(2 * C, C).CopyTo(cache.LayerValues(l).Slice(pos[r] * C, C));
                }
                for (int ci = 0; ci < caches.Length; ci++)
                {
                    int tk = caches[ci].Length + perCache;
                    Attention.Decode(q.Slice(ci * perCache * C, perCache * C), caches[ci].LayerKeys(l)[..(tk * C)], caches[ci].LayerValues(l)[..(tk * C)],
                                     atty.Slice(ci * perCache * C, perCache * C), perCache, tk, C, NH);
                }
                MatmulForward(atty, P(w.AttnProj), P(w.AttnProjB), tmp, R, C, C);
                Residual.Forward(x, tmp, x, R * C);
                ReadOnlySpan<float> mlpIn;
                if (pre) { LayerNorm.Forward(x, P(w.Ln2W), P(w.Ln2B), ln, mean, rstd, R, C, eps); mlpIn = ln; }
                else { LayerNorm.Forward(x, P(w.Ln1W), P(w.Ln1B), ln, mean, rstd, R, C, eps); ln.CopyTo(x); mlpIn = x; }
                MatmulForward(mlpIn, P(w.Fc), P(w.FcB), fch, R, C, F);
                Gelu.Forward(fch, fchg, R * F);
                MatmulForward(fchg, P(w.FcProj), P(w.FcProjB), tmp, R, F, C);
                Residual.Forward(x, tmp, x, R * C);
                if (!pre) { LayerNorm.Forward(x, P(w.Ln2W), P(w.Ln2B), ln, mean, rstd, R, C, eps); ln.CopyTo(x); }
            }
            foreach (var c in caches) c.Length += perCache;

            var hidden = s.Hidden.AsSpan(0, R * C);
            if (Config.FinalNorm) LayerNorm.Forward(x, P(_lnfW!), P(_lnfB), hidden, mean, rstd, R, C, eps);
            else x.CopyTo(hidden);
            var wHead = P(_lmHead)[..(V * C)];
            if (allPositions) MatmulForward(hidden, wHead, default, logits, R, C, V);
            else
            {
                // Only each sequence's last position needs logits: gather those rows first.
                var last = tmp[..(caches.Length * C)];
                for (int ci = 0; ci < caches.Length; ci++) hidden.Slice((ci * perCache + perCache - 1) * C, C).CopyTo(last.Slice(ci * C, C));
                MatmulForward(last, wHead, default, logits, caches.Length, C, V);
            }
            if (!lastHidden.IsEmpty) hidden.Slice((R - 1) * C, C).CopyTo(lastHidden);
        }
        finally
        {
            _scratchPool.Add(s);
        }
    }
}
