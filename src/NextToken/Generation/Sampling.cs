// Sampling: argmax, categorical draws, log-softmax and top-n over one row of logits (no allocation).
using NextToken.Tensors;

namespace NextToken.Generation;

/// <summary>Small numeric helpers over one row of logits; −∞ entries have probability 0.</summary>
public static class Sampling
{
    /// <summary>Index of the largest logit (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>log Σ exp(logits), in double.</summary>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) if (l > max) max = l;
        if (float.IsNegativeInfinity(max)) return double.NegativeInfinity;
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return max + Math.Log(sum);
    }

    /// <summary>Writes softmax(<paramref name="logits"/>) into <paramref name="probs"/>.</summary>
    public static void Softmax(ReadOnlySpan<float> logits, Span<float> probs)
    {
        double lse = LogSumExp(logits);
        if (double.IsNegativeInfinity(lse)) throw new InvalidOperationException("every token was removed by the logits processors (bans, biases, no-repeat n-gram); relax them");
        for (int i = 0; i < logits.Length; i++) probs[i] = (float)Math.Exp(logits[i] - lse);
    }

    /// <summary>Draws one index from the distribution softmax(<paramref name="logits"/>) with inverse-CDF sampling.</summary>
    public static int Sample(ReadOnlySpan<float> logits, ref Rng rng)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) if (l > max) max = l;
        if (float.IsNegativeInfinity(max)) throw new InvalidOperationException("every token was removed by the logits processors (bans, biases, no-repeat n-gram); relax them");
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        double u = rng.NextDouble() * sum, acc = 0;
        int last = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            if (logits[i] == float.NegativeInfinity) continue;
            acc += Math.Exp(logits[i] - max);
            last = i;
            if (u < acc) return i;
        }
        return last; // rounding: u landed past the accumulated sum
    }

    /// <summary>Draws one index from a probability vector (entries ≥ 0, any positive sum).</summary>
    public static int SampleProbabilities(ReadOnlySpan<float> probs, ref Rng rng)
    {
        double sum = 0;
        foreach (float p in probs) sum += p;
        double u = rng.NextDouble() * sum, acc = 0;
        int last = 0;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] <= 0) continue;
            acc += probs[i];
            last = i;
            if (u < acc) return i;
        }
        return last;
    }

    /// <summary>
    /// The <paramref name="ids"/>.Length largest logits, largest first, into <paramref name="ids"/> and
    /// <paramref name="values"/> (O(V·n) insertion; n is small).
    /// </summary>
    public static int TopN(ReadOnlySpan<float> logits, Span<int> ids, Span<float> values)
    {
        int n = Math.Min(ids.Length, logits.Length), filled = 0;
        if (n == 0) return 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float l = logits[i];
            if (filled == n && !(l > values[n - 1])) continue;
            int j = filled < n ? filled++ : n - 1;
            while (j > 0 && values[j - 1] < l) { values[j] = values[j - 1]; ids[j] = ids[j - 1]; j--; }
            values[j] = l;
            ids[j] = i;
        }
        return filled;
    }
}
