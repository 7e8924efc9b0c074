// PolicyMath: the exact arithmetic of RLHF — GAE, whitening, PPO's clipped policy and value losses, KL estimators,
// Bradley-Terry, DPO (sigmoid / IPO / hinge) and GRPO's group-relative advantages — each loss with its gradient.
namespace NextToken.Alignment;

/// <summary>The KL estimators of Schulman (2020), "Approximating KL divergence", for samples x ~ π.</summary>
public enum KlEstimator
{
    /// <summary>k1 = log π(x)/π_ref(x): unbiased, high variance, can be negative.</summary>
    K1,
    /// <summary>k2 = ½ (log π(x)/π_ref(x))²: biased, low variance, never negative.</summary>
    K2,
    /// <summary>k3 = (ρ − 1) − log ρ with ρ = π_ref(x)/π(x): unbiased, never negative (GRPO's KL term).</summary>
    K3,
}

/// <summary>The DPO loss family.</summary>
public enum DpoLoss
{
    /// <summary>−log σ(β·h) (Rafailov et al. 2023), h = (log π/π_ref)(chosen) − (log π/π_ref)(rejected).</summary>
    Sigmoid,
    /// <summary>(h − 1/(2β))² (IPO, Azar et al. 2023).</summary>
    Ipo,
    /// <summary>max(0, 1 − β·h) (SLiC's hinge).</summary>
    Hinge,
}

/// <summary>
/// Pure functions over spans: no model, no allocation. Tests check each against hand-computed values or finite
/// differences (tests/NextToken.Tests/Alignment).
/// </summary>
public static class PolicyMath
{
    /// <summary>log σ(x), stable for large |x|.</summary>
    public static double LogSigmoid(double x) => x >= 0 ? -Math.Log(1 + Math.Exp(-x)) : x - Math.Log(1 + Math.Exp(x));

    /// <summary>σ(x).</summary>
    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    /// <summary>
    /// Generalised advantage estimation (Schulman et al. 2016) over one response of n tokens: δ_t = r_t + γ·V_{t+1} − V_t
    /// (V_n = 0: the response ends the episode), A_t = δ_t + γλ·A_{t+1}, returns R_t = A_t + V_t.
    /// </summary>
    public static void Gae(ReadOnlySpan<float> rewards, ReadOnlySpan<float> values, float gamma, float lambda, Span<float> advantages, Span<float> returns)
    {
        int n = rewards.Length;
        if (values.Length != n || advantages.Length < n || returns.Length < n)
            throw new ArgumentException($"rewards, values, advantages and returns must all hold {n} entries");
        double next = 0, nextValue = 0;
        for (int t = n - 1; t >= 0; t--)
        {
            double delta = rewards[t] + gamma * nextValue - values[t];
            next = delta + gamma * lambda * next;
            advantages[t] = (float)next;
            returns[t] = (float)(next + values[t]);
            nextValue = values[t];
        }
    }

    /// <summary>
    /// Whitens <paramref name="x"/> in place over the entries where <paramref name="mask"/> is true (all when empty):
    /// (x − mean)/sqrt(var + 1e-8) with the population variance; with <paramref name="shiftMean"/> false the mean is
    /// added back (TRL's whitening of rewards). Entries outside the mask are set to 0.
    /// </summary>
    public static void Whiten(Span<float> x, ReadOnlySpan<bool> mask = default, bool shiftMean = true)
    {
        double sum = 0, sq = 0;
        int n = 0;
        for (int i = 0; i < x.Length; i++)
            if (mask.IsEmpty || mask[i]) { sum += x[i]; n++; }
        if (n == 0) return;
        double mean = sum / n;
        for (int i = 0; i < x.Length; i++)
            if (mask.IsEmpty || mask[i]) sq += (x[i] - mean) * (x[i] - mean);
        double scale = 1 / Math.Sqrt(sq / n + 1e-8);
        for (int i = 0; i < x.Length; i++)
            x[i] = mask.IsEmpty || mask[i] ? (float)((x[i] - mean) * scale + (shiftMean ? 0 : mean)) : 0f;
    }

    /// <summary>
    /// PPO's clipped surrogate (Schulman et al. 2017) summed over tokens: L = Σ w_t · −min(ρ_t A_t, clip(ρ_t, 1−ε, 1+ε) A_t),
    /// ρ_t = exp(log π_t − log π_old,t). Writes dL/d log π_t (w_t·−A_t ρ_t where the unclipped term is the minimum, else 0)
    /// and returns the loss, the number of clipped tokens (weight ≠ 0) and Σ w_t·k3-style approximate KL ½(log ρ)².
    /// </summary>
    public static (double Loss, int Clipped, double ApproxKl) ClippedPolicyLoss(ReadOnlySpan<float> logProbs, ReadOnlySpan<float> oldLogProbs,
        ReadOnlySpan<float> advantages, ReadOnlySpan<float> weights, float clip, Span<float> dLogProbs)
    {
        double loss = 0, approxKl = 0;
        int clipped = 0;
        for (int t = 0; t < logProbs.Length; t++)
        {
            float w = weights[t];
            if (w == 0) { dLogProbs[t] = 0; continue; }
            double logRatio = logProbs[t] - oldLogProbs[t], ratio = Math.Exp(logRatio), a = advantages[t];
            double unclipped = ratio * a, clippedRatio = Math.Clamp(ratio, 1 - clip, 1 + clip), clippedTerm = clippedRatio * a;
            bool useClipped = clippedTerm < unclipped;
            loss += w * -(useClipped ? clippedTerm : unclipped);
            // The clipped branch is constant in log π when the ratio is outside the interval (and equal to the unclipped one inside).
            dLogProbs[t] = useClipped ? 0f : (float)(w * -a * ratio);
            if (ratio < 1 - clip || ratio > 1 + clip) clipped++;
            approxKl += w * 0.5 * logRatio * logRatio;
        }
        return (loss, clipped, approxKl);
    }

    /// <summary>
    /// PPO's clipped value loss summed over tokens: L = Σ w_t · ½ max((V_t − R_t)², (clip(V_t, V_old − c, V_old + c) − R_t)²);
    /// writes dL/dV_t and returns the loss.
    /// </summary>
    public static double ClippedValueLoss(ReadOnlySpan<float> values, ReadOnlySpan<float> oldValues, ReadOnlySpan<float> returns,
        ReadOnlySpan<float> weights, float clip, Span<float> dValues)
    {
        double loss = 0;
        for (int t = 0; t < values.Length; t++)
        {
            float w = weights[t];
            if (w == 0) { dValues[t] = 0; continue; }
            double v = values[t], vc = Math.Clamp(v, oldValues[t] - clip, oldValues[t] + clip), r = returns[t];
            double l1 = (v - r) * (v - r), l2 = (vc - r) * (vc - r);
            if (l1 >= l2) { loss += w * 0.5 * l1; dValues[t] = (float)(w * (v - r)); }
            else
            {
                loss += w * 0.5 * l2;
                bool inside = v > oldValues[t] - clip && v < oldValues[t] + clip;
                dValues[t] = inside ? (float)(w * (vc - r)) : 0f;
            }
        }
        return loss;
    }

    /// <summary>The estimator's value for one sample with log π = <paramref name="logP"/>, log π_ref = <paramref name="logRef"/>.</summary>
    public static double Kl(KlEstimator estimator, double logP, double logRef)
    {
        double logRatio = logP - logRef;
        return estimator switch
        {
            KlEstimator.K1 => logRatio,
            KlEstimator.K2 => 0.5 * logRatio * logRatio,
            _ => Math.Exp(-logRatio) - 1 + logRatio,
        };
    }

    /// <summary>d(estimator)/d log π at one sample (log π_ref fixed).</summary>
    public static double KlGradient(KlEstimator estimator, double logP, double logRef)
    {
        double logRatio = logP - logRef;
        return estimator switch
        {
            KlEstimator.K1 => 1,
            KlEstimator.K2 => logRatio,
            _ => 1 - Math.Exp(-logRatio),
        };
    }

    /// <summary>Bradley-Terry loss −log σ(r⁺ − r⁻) of one pair; <paramref name="dMargin"/> gets its derivative with respect to r⁺ − r⁻ (σ − 1).</summary>
    public static double BradleyTerry(double chosen, double rejected, out double dMargin)
    {
        double m = chosen - rejected;
        dMargin = Sigmoid(m) - 1;
        return -LogSigmoid(m);
    }

    /// <summary>
    /// One DPO pair's loss given the summed log-probabilities of the chosen and rejected responses under the policy and the
    /// reference; <paramref name="dChosen"/> and <paramref name="dRejected"/> get dL/d log π(chosen) and dL/d log π(rejected)
    /// (equal and opposite). <paramref name="margin"/> is h = (log π − log π_ref)(chosen) − (log π − log π_ref)(rejected).
    /// </summary>
    public static double Dpo(DpoLoss kind, double beta, double policyChosen, double policyRejected, double refChosen, double refRejected,
                             out double dChosen, out double dRejected, out double margin)
    {
        double h = policyChosen - refChosen - (policyRejected - refRejected);
        margin = h;
        double loss, dh;
        switch (kind)
        {
            case DpoLoss.Sigmoid:
                loss = -LogSigmoid(beta * h);
                dh = -beta * (1 - Sigmoid(beta * h));
                break;
            case DpoLoss.Ipo:
            {
                double e = h - 1 / (2 * beta);
                loss = e * e;
                dh = 2 * e;
                break;
            }
            default:
                loss = Math.Max(0, 1 - beta * h);
                dh = beta * h < 1 ? -beta : 0;
                break;
        }
        dChosen = dh;
        dRejected = -dh;
        return loss;
    }

    /// <summary>
    /// GRPO's group-relative advantages (Shao et al. 2024): each reward minus its group's mean, divided by the group's
    /// standard deviation (population, + 1e-4; 0 advantages for a group whose rewards are all equal).
    /// </summary>
    public static void GroupAdvantages(ReadOnlySpan<float> rewards, int groupSize, Span<float> advantages)
    {
        if (groupSize < 1 || rewards.Length % groupSize != 0) throw new ArgumentException($"{rewards.Length} rewards do not split into groups of {groupSize}");
        for (int g = 0; g < rewards.Length; g += groupSize)
        {
            double mean = 0, sq = 0;
            for (int i = 0; i < groupSize; i++) mean += rewards[g + i];
            mean /= groupSize;
            for (int i = 0; i < groupSize; i++) sq += (rewards[g + i] - mean) * (rewards[g + i] - mean);
            double std = Math.Sqrt(sq / groupSize);
            for (int i = 0; i < groupSize; i++) advantages[g + i] = std < 1e-6 ? 0f : (float)((rewards[g + i] - mean) / (std + 1e-4));
        }
    }

    /// <summary>Explained variance 1 − Var(returns − values)/Var(returns) over masked entries (NaN when returns are constant).</summary>
    public static double ExplainedVariance(ReadOnlySpan<float> values, ReadOnlySpan<float> returns, ReadOnlySpan<bool> mask)
    {
        double sr = 0, sd = 0; int n = 0;
        for (int i = 0; i < values.Length; i++) if (mask[i]) { sr += returns[i]; sd += returns[i] - values[i]; n++; }
        if (n < 2) return double.NaN;
        double mr = sr / n, md = sd / n, vr = 0, vd = 0;
        for (int i = 0; i < values.Length; i++)
            if (mask[i]) { vr += (returns[i] - mr) * (returns[i] - mr); double d = returns[i] - values[i] - md; vd += d * d; }
        return vr == 0 ? double.NaN : 1 - vd / vr;
    }
}
