// ModelCount: parameters, training FLOPs per token and memory of one config at one (B, T); JSON keys are a CLI contract.
using System.Text.Json.Serialization;

namespace NextToken.Scaling;

/// <summary>
/// What <see cref="ScalingAccounting.Count"/> reports. FLOPs are per trained token (forward + backward); memory in
/// bytes. Keys in snake_case are the <c>scaling count --json</c> contract (params, non_embedding_params,
/// flops_per_token_6n, flops_per_token, train_memory_bytes).
/// </summary>
public sealed record ModelCount
{
    /// <summary>All parameters (real vocabulary rows only; a tied head is counted once).</summary>
    [JsonPropertyName("params")] public long Parameters { get; init; }
    /// <summary>Kaplan et al.'s N: parameters without the token and position embeddings (and without an untied LM head).</summary>
    [JsonPropertyName("non_embedding_params")] public long NonEmbeddingParameters { get; init; }
    /// <summary>Parameters by part (token_embedding, position_embedding, blocks, final_layernorm, lm_head, total).</summary>
    [JsonPropertyName("breakdown")] public required IReadOnlyDictionary<string, long> Breakdown { get; init; }
    /// <summary>Sequence length T the T-dependent figures use.</summary>
    [JsonPropertyName("seq")] public int SequenceLength { get; init; }
    /// <summary>Batch size B the activation memory uses.</summary>
    [JsonPropertyName("batch")] public int BatchSize { get; init; }
    /// <summary>Kaplan's C ≈ 6N (N non-embedding).</summary>
    [JsonPropertyName("flops_per_token_6n")] public double FlopsPerToken6N { get; init; }
    /// <summary>Kaplan's 6N + 6·L·T·d_attn (Table 1, attention's context term included).</summary>
    [JsonPropertyName("flops_per_token_kaplan")] public double FlopsPerTokenKaplan { get; init; }
    /// <summary>Hoffmann et al. Appendix F (embeddings, logits, softmax included), per token.</summary>
    [JsonPropertyName("flops_per_token_chinchilla")] public double FlopsPerTokenChinchilla { get; init; }
    /// <summary>
    /// This model's own matrix products: 6 × (Σ over its linear layers In·Out + the LM head V·C + causal attention's
    /// NH·HS·(T+1) per layer), the multiply-adds forward (×2 FLOPs) and backward (twice the forward).
    /// </summary>
    [JsonPropertyName("flops_per_token")] public double FlopsPerToken { get; init; }
    /// <summary>Floats the forward keeps for backward plus the backward's scratch at B × T (the model's activation arenas).</summary>
    [JsonPropertyName("activation_floats")] public long ActivationFloats { get; init; }
    /// <summary>fp32 training: weights 4P + gradients 4P + AdamW moments 8P + activations 4 bytes each.</summary>
    [JsonPropertyName("train_memory_bytes")] public long TrainMemoryBytes { get; init; }
    /// <summary>16-bit mixed-precision training: 16-bit weights and gradients (4P), fp32 master weights and moments (12P), 16-bit activations.</summary>
    [JsonPropertyName("train_memory_bytes_16bit")] public long TrainMemoryBytes16 { get; init; }
    /// <summary>fp32 inference weights (4P).</summary>
    [JsonPropertyName("inference_weights_bytes")] public long InferenceWeightsBytes { get; init; }
    /// <summary>16-bit inference weights (2P).</summary>
    [JsonPropertyName("inference_weights_bytes_16bit")] public long InferenceWeightsBytes16 { get; init; }
    /// <summary>KV cache per token in fp32: 2 (keys, values) · L · NKV · HS · 4 bytes.</summary>
    [JsonPropertyName("kv_cache_bytes_per_token")] public long KvCacheBytesPerToken { get; init; }
    /// <summary>KV cache per token in 16-bit.</summary>
    [JsonPropertyName("kv_cache_bytes_per_token_16bit")] public long KvCacheBytesPerToken16 { get; init; }
}
