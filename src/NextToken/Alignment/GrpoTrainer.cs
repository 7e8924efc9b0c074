// GrpoTrainer: group relative policy optimisation (Shao et al. 2024) — G responses per prompt, advantages relative to the
// group, PPO's clipped objective per token, and an optional k3 KL term to the frozen reference.
using System.Diagnostics;
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Alignment;

/// <summary>Options of <see cref="GrpoTrainer"/>.</summary>
public sealed record GrpoOptions
{
    /// <summary>Iterations (one group of rollouts per prompt of the batch, then the updates).</summary>
    public int Iterations { get; init; } = 100;
    /// <summary>Prompts per iteration.</summary>
    public int Prompts { get; init; } = 16;
    /// <summary>G: responses per prompt.</summary>
    public int GroupSize { get; init; } = 8;
    /// <summary>Policy updates per iteration (μ; 1 makes every ratio 1 at the update: the plain group policy gradient).</summary>
    public int UpdatesPerIteration { get; init; } = 2;
    /// <summary>ε of the clipped ratio.</summary>
    public float Clip { get; init; } = 0.2f;
    /// <summary>β of the k3 KL term to the reference (0: off).</summary>
    public float KlCoefficient { get; init; } = 0.04f;
    /// <summary>Learning rate (constant).</summary>
    public float LearningRate { get; init; } = 1e-4f;
    /// <summary>Global gradient-norm clip.</summary>
    public float GradientClip { get; init; } = 1f;
    /// <summary>Longest response.</summary>
    public int MaxNewTokens { get; init; } = 16;
    /// <summary>Subtracted from the reward of a response that did not reach the end token.</summary>
    public float MissingEndPenalty { get; init; } = 1f;
    /// <summary>Seed.</summary>
    public ulong Seed { get; init; } = 1337;

    /// <summary>Checks ranges.</summary>
    public GrpoOptions Validate()
    {
        if (Iterations < 1) throw new ArgumentException($"{nameof(Iterations)} must be at least 1 (got {Iterations})", nameof(Iterations));
        if (GroupSize < 2) throw new ArgumentException($"{nameof(GroupSize)} must be at least 2: advantages are relative to the group (got {GroupSize})", nameof(GroupSize));
        if (Prompts < 1) throw new ArgumentException($"{nameof(Prompts)} must be at least 1 (got {Prompts})", nameof(Prompts));
        if (UpdatesPerIteration < 1) throw new ArgumentException($"{nameof(UpdatesPerIteration)} must be at least 1 (got {UpdatesPerIteration})", nameof(UpdatesPerIteration));
        if (KlCoefficient < 0) throw new ArgumentException($"{nameof(KlCoefficient)} must not be negative (got {KlCoefficient})", nameof(KlCoefficient));
        return this;
    }
}

/// <summary>One GRPO iteration's figures.</summary>
public sealed record GrpoIteration(int Iteration, double Reward, double TrueReward, double KlK3, double ClipFraction, double ResponseLength,
                                   double GrammaticalRate, double Seconds);

/// <summary>GRPO (docs/alignment.md): no value model — the group's mean reward is the baseline.</summary>
public sealed class GrpoTrainer
{
    private readonly GptModel _policy, _reference;
    private readonly ITokenizer _tokenizer;
    private readonly IRewardFunction _reward;
    private readonly int[][] _promptIds;
    private readonly int _endToken, _T;
    private readonly JointOptimizer _opt;
    private readonly RolloutSampler _sampler;
    private Rng _rng;
    private double _seconds;

    /// <summary>Sets up a run on <paramref name="prompts"/>.</summary>
    public GrpoTrainer(GptModel policy, GptModel reference, ITokenizer tokenizer, IRewardFunction reward, IReadOnlyList<string> prompts, GrpoOptions options,
                       int endToken, Func<string, string, double>? trueReward = null, Func<string, string, bool>? grammatical = null)
    {
        Options = options.Validate();
        _policy = policy; _reference = reference; _tokenizer = tokenizer; _reward = reward;
        if (prompts.Count == 0) throw new ArgumentException("no prompts");
        _promptIds = prompts.Select(tokenizer.Encode).ToArray();
        _endToken = endToken;
        _T = SequenceBatch.RowLength(Math.Min(_promptIds.Max(p => p.Length), policy.ContextLength - options.MaxNewTokens), options.MaxNewTokens, policy.ContextLength);
        TrueReward = trueReward; Grammatical = grammatical;
        _opt = new JointOptimizer(policy, null, new AdamWOptions { WeightDecay = 0f });
        _sampler = new RolloutSampler(policy);
        _rng = new Rng(options.Seed, 43);
    }

    /// <summary>The options.</summary>
    public GrpoOptions Options { get; }
    /// <summary>Iterations done.</summary>
    public int Iteration { get; private set; }
    /// <summary>The true reward, when known (logged only).</summary>
    public Func<string, string, double>? TrueReward { get; }
    /// <summary>The grammar check, when known.</summary>
    public Func<string, string, bool>? Grammatical { get; }

    /// <summary>One iteration.</summary>
    public GrpoIteration Step()
    {
        var clock = Stopwatch.StartNew();
        var o = Options;
        int G = o.GroupSize, P = o.Prompts, B = G * P, T = _T, N = B * T;
        var prompts = new int[B][];
        for (int p = 0; p < P; p++)
        {
            var ids = _promptIds[_rng.NextInt(_promptIds.Length)];
            for (int g = 0; g < G; g++) prompts[p * G + g] = ids;
        }
        var rolls = _sampler.Sample(prompts, o.MaxNewTokens, _endToken, 1f, ref _rng);
        var batch = new SequenceBatch(rolls, T);
        var promptTexts = rolls.Select(r => _tokenizer.Decode(r.Prompt)).ToList();
        var texts = rolls.Select(r => PolicyTraining.ResponseText(_tokenizer, r)).ToList();
        var rewards = _reward.Score(rolls, promptTexts, texts);
        double trueR = 0, gram = 0, meanR = 0;
        for (int b = 0; b < B; b++)
        {
            if (!float.IsFinite(rewards[b])) throw new InvalidDataException($"iteration {Iteration + 1}: the reward of rollout {b} is {rewards[b]}; the run stopped");
            if (!rolls[b].Finished) rewards[b] -= o.MissingEndPenalty;
            meanR += rewards[b];
            if (TrueReward is not null) trueR += TrueReward(promptTexts[b], texts[b]);
            if (Grammatical is not null && Grammatical(promptTexts[b], texts[b])) gram++;
        }
        var seqAdv = new float[B];
        PolicyMath.GroupAdvantages(rewards, G, seqAdv);
        var adv = new float[N];
        var weights = new float[N];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < batch.Length[b]; t++)
            {
                adv[batch.Start[b] + t] = seqAdv[b];
                weights[batch.Start[b] + t] = 1f / (batch.Length[b] * B); // mean over each response's tokens, then over responses
            }
        var oldLogp = new float[N];
        var refLogp = new float[N];
        PolicyTraining.LogProbs(_policy, batch, B, oldLogp);
        if (o.KlCoefficient > 0) PolicyTraining.LogProbs(_reference, batch, B, refLogp);
        var logp = new float[N]; var dLogp = new float[N];
        double k3 = 0; long clipped = 0;
        for (int u = 0; u < o.UpdatesPerIteration; u++)
        {
            _opt.ZeroGradients();
            _policy.ForwardLogProbs(batch.Inputs, batch.Targets, B, T, logp);
            var (pl, clip, _) = PolicyMath.ClippedPolicyLoss(logp, oldLogp, adv, weights, o.Clip, dLogp);
            double klTerm = 0;
            if (o.KlCoefficient > 0)
                for (int i = 0; i < N; i++)
                {
                    if (weights[i] == 0) continue;
                    klTerm += weights[i] * PolicyMath.Kl(KlEstimator.K3, logp[i], refLogp[i]);
                    dLogp[i] += (float)(o.KlCoefficient * weights[i] * PolicyMath.KlGradient(KlEstimator.K3, logp[i], refLogp[i]));
                }
            double loss = pl + o.KlCoefficient * klTerm;
            if (!double.IsFinite(loss)) throw new NonFiniteLossException(Iteration + 1, (float)loss, 0);
            _policy.Backward(dLogp, default);
            _opt.Update(o.LearningRate, o.GradientClip);
            if (u == 0) k3 = klTerm;
            clipped += clip;
        }
        Iteration++;
        _seconds += clock.Elapsed.TotalSeconds;
        return new GrpoIteration(Iteration, meanR / B, TrueReward is null ? double.NaN : trueR / B, k3, (double)clipped / Math.Max(1, batch.Tokens * o.UpdatesPerIteration),
                                 (double)batch.Tokens / B, Grammatical is null ? double.NaN : gram / B, _seconds);
    }

    /// <summary>Evaluates the policy on held-out prompts.</summary>
    public PolicyEvaluation Evaluate(IReadOnlyList<string> prompts, ulong seed) =>
        PolicyTraining.Evaluate(_policy, _reference, _tokenizer, prompts, _endToken, Options.MaxNewTokens, seed, TrueReward, Grammatical, _reward);
}
