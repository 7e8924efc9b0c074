// StepProfile: optional per-phase timers of the training forward/backward (matrix products vs attention vs the rest).
using System.Diagnostics;

namespace NextToken.Model;

/// <summary>
/// Accumulated <see cref="Stopwatch"/> ticks spent inside the model's matrix products and attention kernels while
/// attached to a <see cref="GptModel"/> (<c>model.Profile = new StepProfile()</c>); the bench subtracts them from the
/// step time to get the element-wise share. Two timestamps per kernel call: negligible next to the kernels.
/// </summary>
internal sealed class StepProfile
{
    public long MatmulTicks, AttentionTicks;
    // Bytes the calling thread allocated inside the matrix products (so a test can prove the rest allocates nothing).
    public long MatmulBytes;

    public static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;

    public void Reset() => MatmulTicks = AttentionTicks = MatmulBytes = 0;
}
