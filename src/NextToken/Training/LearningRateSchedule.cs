// LearningRateSchedule: linear warm-up then cosine decay to a floor (GPT-3 paper, appendix B; nanoGPT).
namespace NextToken.Training;

/// <summary>Warm-up + cosine schedule.</summary>
public static class LearningRateSchedule
{
    /// <summary>
    /// lr(step) = max·(step+1)/warmup during warm-up; then min + ½(1 + cos(π·progress))·(max − min) until
    /// <paramref name="decaySteps"/>; min afterwards.
    /// </summary>
    public static float At(long step, float max, float min, int warmup, int decaySteps)
    {
        if (step < warmup) return max * (step + 1) / warmup;
        if (step >= decaySteps) return min;
        double progress = (double)(step - warmup) / Math.Max(1, decaySteps - warmup);
        return (float)(min + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (max - min));
    }
}
