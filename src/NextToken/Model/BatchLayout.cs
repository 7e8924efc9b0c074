// BatchLayout: optional per-token structure of a training batch — packed documents, explicit positions, an embedding prefix.
namespace NextToken.Model;

/// <summary>
/// What a (B, T) batch may carry besides token ids. All members are optional (default: one document per row,
/// positions 0..T-1, no prefix).
/// </summary>
public readonly ref struct BatchLayout
{
    /// <summary>
    /// (B·T) document ids. Several documents packed into one row: a new document starts wherever the id changes from
    /// one position to the next, attention never crosses a document boundary, and positions restart at 0 in each
    /// document (unless <see cref="PositionIds"/> are given).
    /// </summary>
    public ReadOnlySpan<int> DocumentIds { get; init; }

    /// <summary>(B·T) explicit position of each token (learned or sinusoidal table row, RoPE angle); each must be below the context length.</summary>
    public ReadOnlySpan<int> PositionIds { get; init; }

    /// <summary>
    /// (B, P, C) embedding vectors that take the place of the token embeddings of the first P positions of each row
    /// (image patches, soft prompts); position embeddings are still added. The token ids at those positions are not
    /// read. After a backward, <see cref="GptModel.PrefixGradient"/> holds dL/d(prefix).
    /// </summary>
    public ReadOnlySpan<float> PrefixEmbeddings { get; init; }

    /// <summary>P: how many positions of each span come from <see cref="PrefixEmbeddings"/> (the leading P of each row by default).</summary>
    public int PrefixLength { get; init; }

    /// <summary>
    /// (B·K) where each of K embedding spans of P positions starts in its row (ascending, not overlapping, inside the
    /// row); <see cref="PrefixEmbeddings"/> is then (B, K, P, C) and <see cref="GptModel.PrefixGradient"/> likewise.
    /// A negative start marks a span unused (its embeddings are not read, its gradient is zero); unused spans come after
    /// the used ones of their row, so that rows packed with different numbers of images share one K.
    /// Empty: one span at position 0 of every row (a prefix). Spans elsewhere put an image after its question, or one
    /// image in each of several documents packed into a row.
    /// </summary>
    public ReadOnlySpan<int> PrefixStarts { get; init; }
}
