// IclProbes: in-context-learning score, repeated-random-token losses and per-head induction / prefix-matching scores.
using NextToken.Model;
using NextToken.Tensors;

namespace NextToken.Evaluation.Probes;

/// <summary>
/// Probes of in-context learning after Olsson et al. 2022, "In-context Learning and Induction Heads":
/// <list type="bullet">
/// <item>ICL score: mean loss at target position 500 minus at position 50 (positions scaled by T/512 for shorter contexts).</item>
/// <item>Repeated random tokens: R random tokens twice; per-position loss on the second copy against the first.</item>
/// <item>Induction score of a head: mean attention from a second-copy position t to t − R + 1, the token right after the
/// earlier copy of the current token (the "induction stripe").</item>
/// <item>Prefix-matching score: mean over positions whose token occurred earlier of the attention paid to every
/// token that followed an earlier occurrence of the current token (Olsson et al.'s definition, which also counts
/// repeats inside one random copy).</item>
/// </list>
/// </summary>
public static class IclProbes
{
    /// <summary>The early and late target positions for windows of <paramref name="length"/> targets: 50 and 500, scaled by length/512 when shorter.</summary>
    public static (int Early, int Late) ScorePositions(int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 2);
        if (length > 500) return (50, 500);
        double s = length / 512.0;
        int late = Math.Min(length - 1, (int)Math.Round(500 * s));
        int early = Math.Clamp((int)Math.Round(50 * s), 0, late - 1);
        return (early, late);
    }

    /// <summary>ICL score of a per-position loss curve: loss[late] − loss[early].</summary>
    public static double IclScore(ReadOnlySpan<double> lossByPosition)
    {
        var (early, late) = ScorePositions(lossByPosition.Length);
        return lossByPosition[late] - lossByPosition[early];
    }

    /// <summary>Mean per-position loss of <paramref name="model"/> over <paramref name="windows"/> (each T + 1 tokens).</summary>
    public static double[] LossByPosition(GptModel model, IReadOnlyList<int[]> windows, int batch = 8)
    {
        int T = windows[0].Length - 1;
        var sum = new double[T];
        for (int b0 = 0; b0 < windows.Count; b0 += batch)
        {
            int B = Math.Min(batch, windows.Count - b0);
            var inputs = new int[B * T];
            var targets = new int[B * T];
            for (int b = 0; b < B; b++)
            {
                windows[b0 + b].AsSpan(0, T).CopyTo(inputs.AsSpan(b * T));
                windows[b0 + b].AsSpan(1, T).CopyTo(targets.AsSpan(b * T));
            }
            model.Forward(inputs, targets, B, T);
            var losses = model.LastLosses;
            for (int i = 0; i < B * T; i++) sum[i % T] += losses[i];
        }
        for (int t = 0; t < T; t++) sum[t] /= windows.Count;
        return sum;
    }

    /// <summary>
    /// Induction score of one attention pattern (T, T) (row t = query, column s = key, causal) on a sequence whose
    /// second half repeats its first R tokens: mean over t in [R, 2R) of pattern[t, t − R + 1] — or, with
    /// <paramref name="span"/> &gt; 1, of the mass on the <paramref name="span"/> tokens that followed the earlier copy,
    /// pattern[t, t − R + 1 … t − R + span] (for sequences whose unit is several tokens, e.g. an example of an episode).
    /// Given the sequence's <paramref name="tokens"/>, only positions whose token occurs exactly once in the first copy
    /// count (the token "after the earlier copy" is defined only then; random tokens from a large vocabulary nearly always
    /// are, an episode's letters are and its separators are not).
    /// </summary>
    public static double InductionScore(ReadOnlySpan<float> pattern, int T, int repeat, int span = 1, ReadOnlySpan<int> tokens = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(span, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(span, repeat);
        double sum = 0;
        int n = 0;
        for (int t = repeat; t < Math.Min(2 * repeat, T); t++)
        {
            if (!tokens.IsEmpty && tokens[..repeat].Count(tokens[t]) != 1) continue;
            for (int o = 1; o <= span; o++) sum += pattern[t * T + t - repeat + o];
            n++;
        }
        return n > 0 ? sum / n : 0;
    }

    /// <summary>
    /// Prefix-matching score of one attention pattern (T, T) over <paramref name="tokens"/>: for each position t whose
    /// token occurred before, the attention mass on keys s ≤ t with tokens[s − 1] == tokens[t]; averaged over those t.
    /// </summary>
    public static double PrefixMatchingScore(ReadOnlySpan<float> pattern, ReadOnlySpan<int> tokens)
    {
        int T = tokens.Length;
        double sum = 0;
        int n = 0;
        for (int t = 1; t < T; t++)
        {
            double mass = 0;
            bool any = false;
            for (int s = 1; s <= t; s++)
                if (tokens[s - 1] == tokens[t] && s - 1 < t) { mass += pattern[t * T + s]; any = true; }
            if (any) { sum += mass; n++; }
        }
        return n > 0 ? sum / n : 0;
    }

    /// <summary>
    /// Runs <paramref name="batch"/> sequences of R random tokens repeated twice (R = min(T/2, 128) unless given) and
    /// returns the per-position loss and the per-head scores; attention patterns are recomputed from the forward's
    /// saved q and k (softmax of q·k/√HS over the causal keys, the attention kernel's formula).
    /// </summary>
    public static (double[] LossByPosition, HeadScores Heads, int Repeat) RepeatedRandomTokens(GptModel model, int batch = 8, ulong seed = 1, int repeat = 0)
    {
        var cfg = model.Config;
        int R = repeat > 0 ? repeat : Math.Min(cfg.ContextLength / 2, 128);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(2 * R, cfg.ContextLength);
        var rng = new Rng(seed, 23);
        var halves = new List<int[]>();
        for (int b = 0; b < batch; b++)
        {
            var half = new int[R];
            for (int i = 0; i < R; i++) half[i] = rng.NextInt(cfg.VocabSize);
            halves.Add(half);
        }
        return RepeatedSequences(model, halves);
    }

    /// <summary>
    /// The repeated-sequence probe on given first copies (all of one length R, 2R ≤ T): each is run twice in a row;
    /// returns the per-position loss (2R − 1 targets) and each head's induction and prefix-matching scores. Random
    /// tokens are the usual first copies (<see cref="RepeatedRandomTokens"/>); a model trained on one format only can be
    /// probed with random sequences in that format (e.g. <see cref="NextToken.Evaluation.Tasks.IclEpisodes.RandomEpisodes"/>).
    /// </summary>
    public static (double[] LossByPosition, HeadScores Heads, int Repeat) RepeatedSequences(GptModel model, IReadOnlyList<int[]> firstCopies, int inductionSpan = 1)
    {
        var cfg = model.Config;
        int R = firstCopies[0].Length, batch = firstCopies.Count;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(2 * R, cfg.ContextLength);
        if (firstCopies.Any(h => h.Length != R)) throw new ArgumentException("every first copy must have the same length");
        int T = 2 * R - 1; // inputs: both copies but the last token (it has no target)
        var seqs = firstCopies.Select(h => (int[])[.. h, .. h]).ToList();
        var loss = LossByPosition(model, seqs, batch);
        // The same forward left its q/k in the activation arena: rebuild each head's pattern.
        int L = cfg.Layers, NH = cfg.Heads, NKV = cfg.KvHeadCount, HS = cfg.HeadSize, W = cfg.QkvSize;
        var induction = new double[L, NH];
        var prefix = new double[L, NH];
        var pattern = new float[T * T];
        float scale = 1f / MathF.Sqrt(HS);
        for (int l = 0; l < L; l++)
        {
            var qkv = model.Activation($"h.{l}.qkv");
            for (int h = 0; h < NH; h++)
            {
                int kvh = h / (NH / NKV);
                for (int b = 0; b < batch; b++)
                {
                    AttentionPattern(qkv.Slice(b * T * W, T * W), pattern, T, W, h * HS, (NH + kvh) * HS, HS, scale);
                    induction[l, h] += InductionScore(pattern, T, R, inductionSpan, seqs[b].AsSpan(0, T)) / batch;
                    prefix[l, h] += PrefixMatchingScore(pattern, seqs[b].AsSpan(0, T)) / batch;
                }
            }
        }
        return (loss, new HeadScores(induction, prefix), R);
    }

    // pattern (T, T): row t = softmax over s ≤ t of q_t·k_s·scale (zeros above the diagonal).
    internal static void AttentionPattern(ReadOnlySpan<float> qkv, Span<float> pattern, int T, int W, int qOff, int kOff, int HS, float scale)
    {
        pattern.Clear();
        for (int t = 0; t < T; t++)
        {
            var q = qkv.Slice(t * W + qOff, HS);
            var row = pattern.Slice(t * T, T);
            float max = float.NegativeInfinity;
            for (int s = 0; s <= t; s++)
            {
                row[s] = System.Numerics.Tensors.TensorPrimitives.Dot(q, qkv.Slice(s * W + kOff, HS)) * scale;
                max = Math.Max(max, row[s]);
            }
            double z = 0;
            for (int s = 0; s <= t; s++) { row[s] = MathF.Exp(row[s] - max); z += row[s]; }
            for (int s = 0; s <= t; s++) row[s] = (float)(row[s] / z);
        }
    }

    /// <summary>
    /// All probes on one model: ICL score over <paramref name="heldOut"/> windows (T + 1 tokens each) and the repeated-
    /// sequence probes, on <paramref name="firstCopies"/> when given (induction score over <paramref name="inductionSpan"/>
    /// tokens, see <see cref="InductionScore"/>), else on random tokens.
    /// </summary>
    public static ProbeReport Run(GptModel model, IReadOnlyList<int[]> heldOut, int batch = 8, ulong seed = 1, IReadOnlyList<int[]>? firstCopies = null,
                                  int inductionSpan = 1)
    {
        var loss = LossByPosition(model, heldOut, batch);
        var (early, late) = ScorePositions(loss.Length);
        var (repeatLoss, heads, R) = firstCopies is { Count: > 0 } ? RepeatedSequences(model, firstCopies, inductionSpan) : RepeatedRandomTokens(model, batch, seed);
        // Target position i predicts token i + 1: the first copy's targets are 0..R-2, the second copy's R-1..2R-2.
        return new ProbeReport
        {
            LossByPosition = loss, IclScore = loss[late] - loss[early], EarlyPosition = early, LatePosition = late,
            RepeatLength = R, FirstCopyLoss = repeatLoss[..(R - 1)].Average(), SecondCopyLoss = repeatLoss[(R - 1)..].Average(),
            RepeatLossByPosition = repeatLoss, Heads = heads,
        };
    }
}
