// ChiSquare: Pearson's goodness-of-fit test at significance 0.001 for the sampler tests (fixed seeds, so deterministic).
namespace NextToken.Tests.Generation;

internal static class ChiSquare
{
    // Upper 0.001 quantiles of the chi-square distribution for 1..40 degrees of freedom (standard tables).
    private static readonly double[] Critical999 =
    [
        10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588,
        31.264, 32.909, 34.528, 36.123, 37.697, 39.252, 40.790, 42.312, 43.820, 45.315,
        46.797, 48.268, 49.728, 51.179, 52.620, 54.052, 55.476, 56.892, 58.301, 59.703,
        61.098, 62.487, 63.870, 65.247, 66.619, 67.985, 69.346, 70.703, 72.055, 73.402,
    ];

    /// <summary>Pearson's statistic over cells with positive expected probability, and its degrees of freedom.</summary>
    public static (double Statistic, int Df) Statistic(long[] counts, double[] expected)
    {
        long n = counts.Sum();
        double stat = 0;
        int cells = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (expected[i] <= 0) continue;
            double e = n * expected[i];
            stat += (counts[i] - e) * (counts[i] - e) / e;
            cells++;
        }
        return (stat, cells - 1);
    }

    /// <summary>True when the counts are consistent with <paramref name="expected"/> at significance 0.001.</summary>
    public static bool Passes(long[] counts, double[] expected)
    {
        for (int i = 0; i < counts.Length; i++) if (expected[i] <= 0 && counts[i] > 0) return false;
        var (stat, df) = Statistic(counts, expected);
        return df == 0 || stat < Critical999[df - 1];
    }

    /// <summary>Asserts the counts fit <paramref name="expected"/> (zero-probability cells must be empty).</summary>
    public static void AssertFits(long[] counts, double[] expected)
    {
        for (int i = 0; i < counts.Length; i++)
            Assert.True(expected[i] > 0 || counts[i] == 0, $"token {i} has probability 0 but was drawn {counts[i]} times");
        var (stat, df) = Statistic(counts, expected);
        if (df == 0) return;
        Assert.True(stat < Critical999[df - 1], $"chi-square {stat:F2} ≥ {Critical999[df - 1]} (df {df}, p = 0.001): counts [{string.Join(", ", counts)}], expected [{string.Join(", ", expected.Select(e => (e * counts.Sum()).ToString("F1")))}]");
    }

    /// <summary>Softmax in double, −∞ → 0.</summary>
    public static double[] Softmax(double[] logits)
    {
        double max = logits.Max();
        var e = logits.Select(l => double.IsNegativeInfinity(l) ? 0 : Math.Exp(l - max)).ToArray();
        double s = e.Sum();
        return e.Select(x => x / s).ToArray();
    }
}
