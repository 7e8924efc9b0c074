// ITokenSource: the little read-only view of a token sequence that BatchLoader walks (a mapped file or an array).
namespace NextToken.Data;

/// <summary>A read-only sequence of token ids addressed by 64-bit positions, so corpora over 2^31 tokens work.</summary>
internal interface ITokenSource
{
    /// <summary>Number of tokens.</summary>
    long Count { get; }

    /// <summary>Copies <c>destination.Length</c> tokens starting at <paramref name="start"/>.</summary>
    void Read(long start, Span<int> destination);
}

/// <summary>Tokens held in memory (tests, small built-in corpora).</summary>
internal sealed class ArrayTokenSource(int[] tokens) : ITokenSource
{
    public long Count => tokens.Length;

    public void Read(long start, Span<int> destination) => tokens.AsSpan(checked((int)start), destination.Length).CopyTo(destination);
}
