// KernelCounters: multiply-adds requested of the matmul and attention kernels, counted on the calling thread when
// enabled (scaling accounting checks its FLOP formulas against them).
namespace NextToken.Kernels;

/// <summary>
/// Counts the multiply-adds the model asks of <see cref="Matmul"/> and <see cref="Attention"/> on the current thread,
/// while <see cref="Enabled"/> is true on it (off by default: one thread-static test per kernel call). Matmul: N·C·OC per
/// forward, and per backward N·C·OC for dinp plus N·C·OC for dweight when each is asked for. Attention: per (query, key)
/// pair the mask allows, per query head, HS for the score and HS for the weighted value forward; backward recomputes the
/// score and computes dP, dV, dQ and dK (5·HS per pair) plus dOut·Out (HS per query row). These are the products of the
/// kernels' mathematics, not the padded tiles they run (whole 16-key blocks at the diagonal).
/// </summary>
public static class KernelCounters
{
    [ThreadStatic] private static bool _enabled;
    [ThreadStatic] private static long _matmulForward, _matmulBackward, _attentionForward, _attentionBackward;

    /// <summary>Turns counting on or off for the current thread.</summary>
    public static bool Enabled { get => _enabled; set => _enabled = value; }
    /// <summary>Multiply-adds of matmul forwards on this thread since <see cref="Reset"/>.</summary>
    public static long MatmulForward => _matmulForward;
    /// <summary>Multiply-adds of matmul backwards (dinp and dweight products).</summary>
    public static long MatmulBackward => _matmulBackward;
    /// <summary>Multiply-adds of attention forwards.</summary>
    public static long AttentionForward => _attentionForward;
    /// <summary>Multiply-adds of attention backwards.</summary>
    public static long AttentionBackward => _attentionBackward;
    /// <summary>All four together.</summary>
    public static long Total => _matmulForward + _matmulBackward + _attentionForward + _attentionBackward;

    /// <summary>Zeroes this thread's counts.</summary>
    public static void Reset() => _matmulForward = _matmulBackward = _attentionForward = _attentionBackward = 0;

    internal static void AddMatmulForward(long n) => _matmulForward += n;
    internal static void AddMatmulBackward(long n) => _matmulBackward += n;

    // Σ over rows of the keys each may see: t − keyStart + 1 (keyStart 0 without a mask).
    internal static long AllowedPairs(ReadOnlySpan<int> keyStart, int B, int T)
    {
        long pairs = 0;
        for (int b = 0, i = 0; b < B; b++)
            for (int t = 0; t < T; t++, i++) pairs += t + 1 - (keyStart.IsEmpty ? 0 : keyStart[i]);
        return pairs;
    }

    internal static void AddAttentionForward(ReadOnlySpan<int> keyStart, int B, int T, int NH, int HS) =>
        _attentionForward += AllowedPairs(keyStart, B, T) * NH * 2L * HS;

    internal static void AddAttentionBackward(ReadOnlySpan<int> keyStart, int B, int T, int NH, int HS) =>
        _attentionBackward += AllowedPairs(keyStart, B, T) * NH * 5L * HS + (long)B * T * NH * HS;
}
