// BatchOrder: how BatchLoader picks the windows of a batch (llm.c's sequential walk or nanoGPT's random offsets).
namespace NextToken.Data;

/// <summary>How <see cref="BatchLoader"/> chooses where each row of a batch starts.</summary>
public enum BatchOrder
{
    /// <summary>llm.c: consecutive windows of T tokens walking the file from the start, wrapping at the end.</summary>
    Sequential,
    /// <summary>nanoGPT: every row starts at a uniformly random offset (drawn from our seeded PCG32).</summary>
    Random,
}
