// Sampling: argmax, categorical draws, log-softmax and top-n over one row of logits (no allocation).
using System.Numerics.Tensors;
using NextToken.Tensors;

namespace NextToken.Generation;

/// <summary>Small numeric helpers over one row of logits; −∞ entries have probability 0.</summary>
public static class Sampling
{
    /// <summary>Index of the largest logit (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) return 0;
        // Vectorised (TensorPrimitives returns the first index of the maximum); a NaN, which it would pick, falls back to
        // the comparison loop, which never prefers one.
        int found = TensorPrimitives.IndexOfMax(logits);
        if (!float.IsNaN(logits[found])) return found;
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    // Exponentials are taken a chunk at a time into a stack buffer with TensorPrimitives (vectorised) and summed in double
    // across chunks: a GPT-2 row (50,257 logits) costs tens of microseconds instead of a millisecond of scalar Math.Exp.
    private const int ExpChunk = 512;

    /// <summary>log Σ exp(logits): exponentials in float relative to the maximum, their sum in double.</summary>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) return double.NegativeInfinity;
        float max = MaxOf(logits);
        if (float.IsNegativeInfinity(max)) return double.NegativeInfinity;
        Span<float> buf = stackalloc float[ExpChunk];
        double sum = 0;
        for (int i0 = 0; i0 < logits.Length; i0 += ExpChunk)
            sum += ExpChunkSum(logits.Slice(i0, Math.Min(ExpChunk, logits.Length - i0)), max, buf);
        return max + Math.Log(sum);
    }

    // The largest logit ignoring NaN (as a comparison loop would).
    private static float MaxOf(ReadOnlySpan<float> logits)
    {
        float max = TensorPrimitives.Max(logits);
        if (!float.IsNaN(max)) return max;
        max = float.NegativeInfinity;
        foreach (float l in logits) if (l > max) max = l;
        return max;
    }

    // Σ exp(chunk − max), the exponentials left in buf.
    private static double ExpChunkSum(ReadOnlySpan<float> chunk, float max, Span<float> buf)
    {
        var b = buf[..chunk.Length];
        TensorPrimitives.Subtract(chunk, max, b);
        TensorPrimitives.Exp(b, b);
        return TensorPrimitives.Sum(b);
    }

    /// <summary>Writes softmax(<paramref name="logits"/>) into <paramref name="probs"/>.</summary>
    public static void Softmax(ReadOnlySpan<float> logits, Span<float> probs)
    {
        double lse = LogSumExp(logits);
        if (double.IsNegativeInfinity(lse)) throw new InvalidOperationException("every token was removed by the logits processors (bans, biases, no-repeat n-gram); relax them");
        var p = probs[..logits.Length];
        TensorPrimitives.Subtract(logits, (float)lse, p);
        TensorPrimitives.Exp(p, p);
    }

    /// <summary>Draws one index from the distribution softmax(<paramref name="logits"/>) with inverse-CDF sampling.</summary>
    public static int Sample(ReadOnlySpan<float> logits, ref Rng rng)
    {
        float max = logits.IsEmpty ? float.NegativeInfinity : MaxOf(logits);
        if (float.IsNegativeInfinity(max)) throw new InvalidOperationException("every token was removed by the logits processors (bans, biases, no-repeat n-gram); relax them");
        Span<float> buf = stackalloc float[ExpChunk];
        double sum = 0;
        for (int i0 = 0; i0 < logits.Length; i0 += ExpChunk)
            sum += ExpChunkSum(logits.Slice(i0, Math.Min(ExpChunk, logits.Length - i0)), max, buf);
        double u = rng.NextDouble() * sum, acc = 0;
        int last = 0;
        for (int i0 = 0; i0 < logits.Length; i0 += ExpChunk)
        {
            var chunk = logits.Slice(i0, Math.Min(ExpChunk, logits.Length - i0));
            double cs = ExpChunkSum(chunk, max, buf);
            if (acc + cs <= u)
            {
                // The draw lies past this chunk: skip it whole, remembering its last possible token for the rounding case.
                acc += cs;
                for (int j = chunk.Length - 1; j >= 0; j--) if (buf[j] > 0) { last = i0 + j; break; }
                continue;
            }
            for (int j = 0; j < chunk.Length; j++)
            {
                if (buf[j] <= 0) continue;
                acc += buf[j];
                last = i0 + j;
                if (u < acc) return i0 + j;
            }
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
