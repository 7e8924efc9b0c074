// ICausalLm: what generation needs from a model — incremental forward over a KV cache.
namespace NextToken.Model;

/// <summary>
/// An autoregressive language model that can be run incrementally. The GPT model implements it; tests use
/// small table models. Every call appends its tokens to the cache at positions <c>cache.Length ..</c>.
/// </summary>
public interface ICausalLm
{
    /// <summary>Real vocabulary size: the length of one row of logits.</summary>
    int VocabSize { get; }
    /// <summary>Maximum number of positions a cache can hold.</summary>
    int ContextLength { get; }
    /// <summary>Width of the hidden state returned by <see cref="Forward"/> (C).</summary>
    int HiddenSize { get; }

    /// <summary>Creates an empty cache sized for this model.</summary>
    KvCache CreateCache();

    /// <summary>
    /// Runs <paramref name="tokens"/> (one sequence) at positions <c>cache.Length ..</c> and appends them to the
    /// cache. <paramref name="logits"/> receives (tokens.Length, VocabSize) when <paramref name="allPositions"/> is
    /// true (speculative verification), else (1, VocabSize) for the last position only. When
    /// <paramref name="lastHidden"/> is not empty it receives the final hidden state (after the final LayerNorm)
    /// of the last position, length <see cref="HiddenSize"/> (contrastive search, value heads).
    /// Throws when the cache would exceed <see cref="ContextLength"/> or an id is out of range.
    /// </summary>
    void Forward(KvCache cache, ReadOnlySpan<int> tokens, Span<float> logits, bool allPositions = false, Span<float> lastHidden = default);

    /// <summary>
    /// One new token for each of several sequences at once (batched decoding reads the weights once for all of
    /// them). <paramref name="logits"/> is (caches.Length, VocabSize).
    /// </summary>
    void ForwardBatch(ReadOnlySpan<KvCache> caches, ReadOnlySpan<int> tokens, Span<float> logits);
}
