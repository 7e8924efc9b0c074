// ScalingAccounting: exact parameter counts (from the model's own layout), training FLOPs per token by three
// conventions and by this model's own products, and training/inference memory.
using NextToken.Model;

namespace NextToken.Scaling;

/// <summary>
/// Parameter, FLOP and memory accounting for a <see cref="GptConfig"/>. Parameters come from
/// <see cref="GptParameters.Breakdown"/> (the blocks' own declarations); FLOPs and activations are closed forms in
/// the config's dimensions, checked in tests against the materialised model (its linear layers and arenas).
/// </summary>
public static class ScalingAccounting
{
    /// <summary>Counts <paramref name="config"/> for sequences of <paramref name="sequenceLength"/> tokens (default: the context) in batches of <paramref name="batchSize"/>.</summary>
    public static ModelCount Count(GptConfig config, int sequenceLength = 0, int batchSize = 1)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        int T = sequenceLength == 0 ? config.ContextLength : sequenceLength;
        if (T < 1) throw new ArgumentException($"the sequence length must be at least 1 (got {sequenceLength})", nameof(sequenceLength));
        if (batchSize < 1) throw new ArgumentException($"the batch size must be at least 1 (got {batchSize})", nameof(batchSize));
        var parts = GptParameters.Breakdown(config);
        long p = parts["total"];
        long nonEmbedding = p - parts["token_embedding"] - parts["position_embedding"] - parts["lm_head"];
        long act = ActivationFloats(config, batchSize, T);
        long kv = 2L * config.Layers * config.KvSize;
        return new ModelCount
        {
            Parameters = p,
            NonEmbeddingParameters = nonEmbedding,
            Breakdown = parts,
            SequenceLength = T,
            BatchSize = batchSize,
            FlopsPerToken6N = 6.0 * nonEmbedding,
            FlopsPerTokenKaplan = 6.0 * nonEmbedding + 6.0 * config.Layers * T * (double)(config.Heads * config.HeadSize),
            FlopsPerTokenChinchilla = ChinchillaFlopsPerToken(config, T),
            FlopsPerToken = 6.0 * MultiplyAddsPerToken(config, T),
            ActivationFloats = act,
            // fp32: weights, gradients, two AdamW moments: 16 bytes per parameter. Mixed precision (ZeRO's accounting):
            // 16-bit weights and gradients (2 + 2) plus fp32 master weights and moments (4 + 8): also 16 bytes per
            // parameter; only the activations halve.
            TrainMemoryBytes = 16 * p + 4 * act,
            TrainMemoryBytes16 = 16 * p + 2 * act,
            InferenceWeightsBytes = 4 * p,
            InferenceWeightsBytes16 = 2 * p,
            KvCacheBytesPerToken = 4 * kv,
            KvCacheBytesPerToken16 = 2 * kv,
        };
    }

    /// <summary>
    /// Multiply-adds of one token's forward when it is one of a causal sequence of <paramref name="sequenceLength"/>:
    /// every linear layer's In·Out (q/k/v C·(NH+2·NKV)·HS, output NH·HS·C, MLP C·F (2F for SwiGLU) and F·C), the LM
    /// head V·C, and attention's scores and weighted values, NH·HS per key each, over (T+1)/2 keys on average.
    /// </summary>
    public static double MultiplyAddsPerToken(GptConfig config, int sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(config);
        long C = config.EmbeddingSize, F = config.MlpSize, Fin = config.Mlp == MlpKind.SwiGlu ? 2 * F : F, A = (long)config.Heads * config.HeadSize;
        double linears = config.Layers * (double)(C * config.QkvSize + A * C + C * Fin + F * C);
        double head = (double)config.VocabSize * C;
        double attention = config.Layers * (double)A * (sequenceLength + 1);
        return linears + head + attention;
    }

    /// <summary>
    /// Hoffmann et al. (2022) Appendix F, forward + backward (2× forward) per token: embeddings 2·T·V·C; per layer
    /// q/k/v 2·T·C·(NH+2·NKV)·HS, logits 2·T²·NH·HS, softmax 3·NH·T², weighted values 2·T²·NH·HS, output 2·T·NH·HS·C,
    /// dense 2·T·(C·F + F·C) (C·2F for SwiGLU's fused gate); final logits 2·T·C·V; divided by T.
    /// </summary>
    public static double ChinchillaFlopsPerToken(GptConfig config, int sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(config);
        double T = sequenceLength, V = config.VocabSize, C = config.EmbeddingSize, A = (double)config.Heads * config.HeadSize;
        double F = config.MlpSize, Fin = config.Mlp == MlpKind.SwiGlu ? 2 * F : F;
        double embeddings = 2 * T * V * C;
        double attention = 2 * T * C * config.QkvSize + 2 * T * T * A + 3 * config.Heads * T * T + 2 * T * T * A + 2 * T * A * C;
        double dense = 2 * T * (C * Fin + F * C);
        double logits = 2 * T * C * V;
        double forward = embeddings + config.Layers * (attention + dense) + logits;
        return 3 * forward / T;
    }

    /// <summary>
    /// Floats of the activation arena a training step at <paramref name="batchSize"/> × <paramref name="sequenceLength"/>
    /// uses (what the forward keeps for backward, the LM head's logits chunk, the backward's scratch), without the
    /// 64-byte alignment of each tensor. Mirrors the model's activation declarations; a test compares it with them.
    /// </summary>
    public static long ActivationFloats(GptConfig config, int batchSize, int sequenceLength)
    {
        ArgumentNullException.ThrowIfNull(config);
        long N = (long)batchSize * sequenceLength, C = config.EmbeddingSize, Q = config.QkvSize, A = (long)config.Heads * config.HeadSize;
        long F = config.MlpSize, Fin = config.Mlp == MlpKind.SwiGlu ? 2 * F : F;
        bool dropout = config.Dropout > 0;
        // Per block: norm1, resid2, norm2, resid3 (N, C); two (mean, rstd) pairs (N); qkv (N, Q); log-sum-exp (B·NH·T);
        // attention output (N, A); MLP pre-activation (N, Fin) and activation (N, F); dropout masks (N, C) twice.
        long block = 4 * N * C + 4 * N + N * Q + (long)batchSize * config.Heads * sequenceLength + N * A + N * Fin + N * F + (dropout ? 2 * N * C : 0);
        // Model: embeddings (+ mask), the shared branch output, final norm (N, C) + (mean, rstd), losses, row scales,
        // and a logits chunk of at most 32M floats.
        long logitRows = Math.Clamp(32L * 1024 * 1024 / config.VocabSize, 1, N);
        long model = N * C * (dropout ? 2 : 1) + N * C + N * C + 2 * N + N + N + logitRows * config.VocabSize;
        // Backward scratch: four residual-width buffers, d qkv, d attention output, d fc, d activation, d hidden.
        long backward = 4 * N * C + N * Q + N * A + N * Fin + N * F + N * C;
        return config.Layers * block + model + backward;
    }
}
