// PolicyTraining: what PPO, DPO and GRPO share — reward functions (a rule or a reward model), a frozen reference copy,
// log-probabilities of response tokens in fixed-size chunks, and the evaluation of a policy (true reward, KL to the
// reference, grammatical rate, length) on held-out prompts.
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tokenization;

namespace NextToken.Alignment;

/// <summary>A reward on whole responses.</summary>
public interface IRewardFunction
{
    /// <summary>What it is (logs, the run file).</summary>
    string Name { get; }
    /// <summary>One reward per rollout; <paramref name="prompts"/> and <paramref name="responses"/> are their texts.</summary>
    float[] Score(IReadOnlyList<Rollout> rollouts, IReadOnlyList<string> prompts, IReadOnlyList<string> responses);
}

/// <summary>A reward computed by a rule on the texts (<c>--reward builtin:NAME</c>).</summary>
public sealed class RuleReward(string name, Func<string, string, double> reward) : IRewardFunction
{
    /// <inheritdoc/>
    public string Name => name;

    /// <inheritdoc/>
    public float[] Score(IReadOnlyList<Rollout> rollouts, IReadOnlyList<string> prompts, IReadOnlyList<string> responses)
    {
        var r = new float[rollouts.Count];
        for (int i = 0; i < r.Length; i++) r[i] = (float)reward(prompts[i], responses[i]);
        return r;
    }

    /// <summary>The built-in rule rewards: <c>builtin:preferences</c> (the preference task's true reward).</summary>
    public static RuleReward? Builtin(string spec) =>
        spec == PreferenceTask.Name ? new RuleReward(spec, PreferenceTask.TrueReward) : null;
}

/// <summary>A learned reward: a <see cref="ScalarModel"/>'s score on prompt + response.</summary>
public sealed class ModelReward(ScalarModel model, string name) : IRewardFunction
{
    /// <inheritdoc/>
    public string Name => name;
    /// <summary>The reward model.</summary>
    public ScalarModel Model => model;

    /// <inheritdoc/>
    public float[] Score(IReadOnlyList<Rollout> rollouts, IReadOnlyList<string> prompts, IReadOnlyList<string> responses) =>
        model.Score(rollouts.Select(r => r.Sequence).ToList());
}

/// <summary>How a policy did on held-out prompts.</summary>
/// <param name="TrueReward">Mean true reward (NaN without one).</param>
/// <param name="ModelReward">Mean score of the reward function used in training (NaN without one).</param>
/// <param name="KlPerToken">Mean over response tokens of the exact KL(π(·|s) ‖ π_ref(·|s)) at the states visited.</param>
/// <param name="KlPerSequence">Mean over responses of the summed per-token KL.</param>
/// <param name="GrammaticalRate">Share of grammatical responses (NaN without a grammar check).</param>
/// <param name="ResponseLength">Mean response tokens.</param>
/// <param name="FinishedRate">Share of responses that reached the end token.</param>
/// <param name="Samples">A few (prompt, response) examples.</param>
public sealed record PolicyEvaluation(double TrueReward, double ModelReward, double KlPerToken, double KlPerSequence, double GrammaticalRate,
                                      double ResponseLength, double FinishedRate, IReadOnlyList<(string Prompt, string Response)> Samples);

/// <summary>Helpers shared by the policy optimisers.</summary>
public static class PolicyTraining
{
    /// <summary>A frozen copy of <paramref name="policy"/> (the KL reference): no gradients are ever allocated for it.</summary>
    public static GptModel FrozenCopy(GptModel policy) => policy.Clone();

    /// <summary>
    /// The end-of-response token: the single token of <paramref name="endText"/> when given (a newline for the built-in
    /// grammar's line-per-sentence text), else the tokenizer's end-of-text, else a newline.
    /// </summary>
    public static int EndToken(ITokenizer tokenizer, string? endText = null)
    {
        if (endText is null && tokenizer.EndOfTextId is int id) return id;
        string text = endText ?? "\n";
        var ids = tokenizer.Encode(text);
        if (ids.Length != 1) throw new ArgumentException($"the end of a response must be one token, but '{text.Replace("\n", "\\n", StringComparison.Ordinal)}' is {ids.Length} tokens in this vocabulary");
        return ids[0];
    }

    /// <summary>Log-probabilities (and optionally entropies) of <paramref name="batch"/>'s targets under <paramref name="model"/>, run in chunks of <paramref name="rows"/> rows.</summary>
    public static void LogProbs(GptModel model, SequenceBatch batch, int rows, Span<float> logProbs, Span<float> entropy = default)
    {
        int T = batch.T;
        for (int b0 = 0; b0 < batch.B; b0 += rows)
        {
            int n = Math.Min(rows, batch.B - b0);
            model.ForwardLogProbs(batch.Inputs.AsSpan(b0 * T, n * T), batch.Targets.AsSpan(b0 * T, n * T), n, T, logProbs.Slice(b0 * T, n * T),
                                  entropy.IsEmpty ? default : entropy.Slice(b0 * T, n * T));
        }
    }

    /// <summary>Decodes the response of a rollout without its end token.</summary>
    public static string ResponseText(ITokenizer tokenizer, Rollout r) => tokenizer.Decode(r.Response);

    /// <summary>
    /// Samples one response per prompt (temperature 1) from <paramref name="policy"/> and measures it: true reward,
    /// the training reward, the exact per-token KL to <paramref name="reference"/> along the sampled responses,
    /// grammatical and finished rates, length.
    /// </summary>
    public static PolicyEvaluation Evaluate(GptModel policy, GptModel reference, ITokenizer tokenizer, IReadOnlyList<string> prompts, int endToken,
                                            int maxNewTokens, ulong seed, Func<string, string, double>? trueReward = null,
                                            Func<string, string, bool>? grammatical = null, IRewardFunction? reward = null, int chunk = 64)
    {
        var sampler = new RolloutSampler(policy);
        var rng = new Rng(seed, 31);
        var promptIds = prompts.Select(tokenizer.Encode).ToList();
        int T = SequenceBatch.RowLength(promptIds.Max(p => p.Length), maxNewTokens, policy.ContextLength);
        int V = policy.VocabSize;
        double tr = 0, mr = 0, klTok = 0, klSeq = 0, gram = 0, len = 0, fin = 0; int tokens = 0;
        var samples = new List<(string, string)>();
        var logitsP = new float[chunk * T * V];
        var logitsR = new float[chunk * T * V];
        for (int i0 = 0; i0 < prompts.Count; i0 += chunk)
        {
            int n = Math.Min(chunk, prompts.Count - i0);
            var rolls = sampler.Sample(promptIds.GetRange(i0, n), maxNewTokens, endToken, 1f, ref rng);
            var texts = rolls.Select(r => ResponseText(tokenizer, r)).ToList();
            var ps = prompts.Skip(i0).Take(n).ToList();
            if (reward is not null) mr += reward.Score(rolls, ps, texts).Sum(x => (double)x);
            var batch = new SequenceBatch(rolls, T);
            policy.ForwardLogits(batch.Inputs, n, T, logitsP);
            reference.ForwardLogits(batch.Inputs, n, T, logitsR);
            for (int b = 0; b < n; b++)
            {
                double seqKl = 0;
                for (int t = 0; t < batch.Length[b]; t++)
                {
                    int pos = batch.Start[b] + t;
                    seqKl += ExactKl(logitsP.AsSpan(pos * V, V), logitsR.AsSpan(pos * V, V));
                }
                klTok += seqKl; klSeq += seqKl; tokens += batch.Length[b];
                if (trueReward is not null) tr += trueReward(ps[b], texts[b]);
                if (grammatical is not null && grammatical(ps[b], texts[b])) gram++;
                len += batch.Length[b];
                if (rolls[b].Finished) fin++;
                if (samples.Count < 8) samples.Add((ps[b], texts[b]));
            }
        }
        int N = prompts.Count;
        return new PolicyEvaluation(trueReward is null ? double.NaN : tr / N, reward is null ? double.NaN : mr / N, tokens == 0 ? 0 : klTok / tokens,
                                    klSeq / N, grammatical is null ? double.NaN : gram / N, len / N, fin / N, samples);
    }

    /// <summary>KL(softmax(p) ‖ softmax(q)) of two rows of logits, in double precision.</summary>
    public static double ExactKl(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        double mp = double.NegativeInfinity, mq = double.NegativeInfinity;
        for (int v = 0; v < p.Length; v++) { mp = Math.Max(mp, p[v]); mq = Math.Max(mq, q[v]); }
        double zp = 0, zq = 0;
        for (int v = 0; v < p.Length; v++) { zp += Math.Exp(p[v] - mp); zq += Math.Exp(q[v] - mq); }
        double lzp = mp + Math.Log(zp), lzq = mq + Math.Log(zq), kl = 0;
        for (int v = 0; v < p.Length; v++)
        {
            double lp = p[v] - lzp, lq = q[v] - lzq;
            kl += Math.Exp(lp) * (lp - lq);
        }
        return Math.Max(0, kl);
    }
}
