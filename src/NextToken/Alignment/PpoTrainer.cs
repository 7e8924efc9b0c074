// PpoTrainer: PPO with a per-token KL penalty to a frozen reference (InstructGPT / Ziegler et al. 2019) — batched
// rollouts, a separate value model, GAE, whitened advantages, clipped policy and value losses, entropy bonus, PPO-ptx,
// an adaptive KL controller, and exact resume.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Alignment;

/// <summary>Options of <see cref="PpoTrainer"/> (defaults follow InstructGPT / TRL where they apply).</summary>
public sealed record PpoOptions
{
    /// <summary>PPO iterations (rollout + optimisation).</summary>
    public int Iterations { get; init; } = 100;
    /// <summary>Rollouts per iteration.</summary>
    public int Batch { get; init; } = 64;
    /// <summary>Minibatches per PPO epoch.</summary>
    public int MiniBatches { get; init; } = 4;
    /// <summary>Passes over each iteration's rollouts.</summary>
    public int PpoEpochs { get; init; } = 4;
    /// <summary>ε of the clipped policy ratio.</summary>
    public float Clip { get; init; } = 0.2f;
    /// <summary>Clip range of the value loss.</summary>
    public float ValueClip { get; init; } = 0.2f;
    /// <summary>β of the per-token KL penalty (InstructGPT: 0.02).</summary>
    public float KlCoefficient { get; init; } = 0.02f;
    /// <summary>When set, the adaptive controller of Ziegler et al. moves β toward this KL per response.</summary>
    public float? TargetKl { get; init; }
    /// <summary>Horizon of the adaptive controller.</summary>
    public int KlHorizon { get; init; } = 10_000;
    /// <summary>GAE's γ.</summary>
    public float Gamma { get; init; } = 1f;
    /// <summary>GAE's λ.</summary>
    public float Lambda { get; init; } = 0.95f;
    /// <summary>Entropy bonus coefficient (0: off).</summary>
    public float EntropyCoefficient { get; init; }
    /// <summary>PPO-ptx: coefficient of the pre-training loss mixed into every policy step (0: off).</summary>
    public float PtxCoefficient { get; init; }
    /// <summary>Policy learning rate (constant).</summary>
    public float LearningRate { get; init; } = 1e-4f;
    /// <summary>Value model learning rate.</summary>
    public float ValueLearningRate { get; init; } = 1e-3f;
    /// <summary>Global gradient-norm clip of each model.</summary>
    public float GradientClip { get; init; } = 1f;
    /// <summary>Longest response.</summary>
    public int MaxNewTokens { get; init; } = 16;
    /// <summary>Rollout temperature.</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Subtracted from the score of a response that did not reach the end token.</summary>
    public float MissingEndPenalty { get; init; } = 1f;
    /// <summary>Whiten advantages over each iteration's response tokens.</summary>
    public bool WhitenAdvantages { get; init; } = true;
    /// <summary>Seed of prompt order and sampling.</summary>
    public ulong Seed { get; init; } = 1337;

    /// <summary>Checks ranges; the message names the option.</summary>
    public PpoOptions Validate()
    {
        if (Iterations < 1) throw new ArgumentException($"{nameof(Iterations)} must be at least 1 (got {Iterations})", nameof(Iterations));
        if (Batch < 1) throw new ArgumentException($"{nameof(Batch)} must be at least 1 (got {Batch})", nameof(Batch));
        if (MiniBatches < 1 || MiniBatches > Batch) throw new ArgumentException($"{nameof(MiniBatches)} must be between 1 and the batch {Batch} (got {MiniBatches})", nameof(MiniBatches));
        if (PpoEpochs < 1) throw new ArgumentException($"{nameof(PpoEpochs)} must be at least 1 (got {PpoEpochs})", nameof(PpoEpochs));
        if (KlCoefficient < 0) throw new ArgumentException($"{nameof(KlCoefficient)} must not be negative (got {KlCoefficient})", nameof(KlCoefficient));
        if (Gamma is < 0 or > 1 || Lambda is < 0 or > 1) throw new ArgumentException($"{nameof(Gamma)} and {nameof(Lambda)} must be within [0, 1] (got {Gamma}, {Lambda})", Gamma is < 0 or > 1 ? nameof(Gamma) : nameof(Lambda));
        return this;
    }
}

/// <summary>One PPO iteration's figures (a line of log.jsonl).</summary>
public sealed record PpoIteration
{
    /// <summary>1-based iteration.</summary>
    public int Iteration { get; init; }
    /// <summary>Mean true reward of the rollouts (NaN without one).</summary>
    public double TrueReward { get; init; }
    /// <summary>Mean score of the reward function (the reward model's, or the rule's), before penalties.</summary>
    public double ModelReward { get; init; }
    /// <summary>Mean over rollouts of Σ_t (log π_old − log π_ref): the sampled KL per response.</summary>
    public double Kl { get; init; }
    /// <summary><see cref="Kl"/> per response token.</summary>
    public double KlPerToken { get; init; }
    /// <summary>β used this iteration.</summary>
    public double KlCoefficient { get; init; }
    /// <summary>Share of token updates whose ratio left [1 − ε, 1 + ε].</summary>
    public double ClipFraction { get; init; }
    /// <summary>Mean ½(log π − log π_old)² over the updates.</summary>
    public double ApproxKl { get; init; }
    /// <summary>Mean entropy of the policy at response tokens.</summary>
    public double Entropy { get; init; }
    /// <summary>Mean clipped value loss.</summary>
    public double ValueLoss { get; init; }
    /// <summary>Mean clipped policy loss.</summary>
    public double PolicyLoss { get; init; }
    /// <summary>1 − Var(returns − values)/Var(returns) of the rollouts' value estimates.</summary>
    public double ExplainedVariance { get; init; }
    /// <summary>Mean response length (tokens).</summary>
    public double ResponseLength { get; init; }
    /// <summary>Share of responses that reached the end token.</summary>
    public double FinishedRate { get; init; }
    /// <summary>Share of grammatical responses (NaN without a check).</summary>
    public double GrammaticalRate { get; init; }
    /// <summary>Rollout tokens per second of this iteration's generation.</summary>
    public double RolloutTokensPerSecond { get; init; }
    /// <summary>Seconds since the run started (across resumes).</summary>
    public double Seconds { get; init; }
}

/// <summary>
/// PPO for language models (docs/alignment.md). The value function is a separate model — a copy of the reward model
/// (InstructGPT initialises it from the RM) or, with a rule reward, of the policy with a zero head — so value regression
/// never pulls on the policy's trunk and the value starts from a network that already reads responses' quality.
/// </summary>
public sealed class PpoTrainer
{
    private const string StateFile = "ppo_state.json";
    private readonly GptModel _policy, _reference;
    private readonly ScalarModel _value;
    private readonly ITokenizer _tokenizer;
    private readonly IRewardFunction _reward;
    private readonly IReadOnlyList<string> _prompts;
    private readonly int[][] _promptIds;
    private readonly int _endToken, _T, _rows;
    private readonly JointOptimizer _policyOpt, _valueOpt;
    private readonly RolloutSampler _sampler;
    private readonly IReadOnlyList<int[]>? _ptx;
    private int[] _order;
    private int _cursor, _ptxCursor;
    private Rng _rng;
    private double _seconds;

    /// <summary>
    /// Sets up a run. <paramref name="reference"/> is the frozen policy the KL is measured against (a copy of the initial
    /// policy); <paramref name="value"/> is trained in place. <paramref name="ptx"/>: pre-training sequences for PPO-ptx.
    /// </summary>
    public PpoTrainer(GptModel policy, GptModel reference, ScalarModel value, ITokenizer tokenizer, IRewardFunction reward, IReadOnlyList<string> prompts,
                      PpoOptions options, int endToken, Func<string, string, double>? trueReward = null, Func<string, string, bool>? grammatical = null,
                      IReadOnlyList<int[]>? ptx = null)
    {
        Options = options.Validate();
        _policy = policy; _reference = reference; _value = value; _tokenizer = tokenizer; _reward = reward; _prompts = prompts;
        if (prompts.Count == 0) throw new ArgumentException("no prompts");
        if (reference.Config != policy.Config) throw new ArgumentException("the reference model must have the policy's architecture");
        if (options.PtxCoefficient > 0 && (ptx is null || ptx.Count == 0)) throw new ArgumentException($"{nameof(PpoOptions.PtxCoefficient)} > 0 needs pre-training text", nameof(PpoOptions.PtxCoefficient));
        _promptIds = prompts.Select(tokenizer.Encode).ToArray();
        for (int i = 0; i < _promptIds.Length; i++)
            if (_promptIds[i].Length == 0) throw new ArgumentException($"prompt {i} is empty");
        _endToken = endToken;
        _T = SequenceBatch.RowLength(Math.Min(_promptIds.Max(p => p.Length), policy.ContextLength - options.MaxNewTokens), options.MaxNewTokens, policy.ContextLength);
        _rows = Math.Max(1, options.Batch / options.MiniBatches);
        TrueReward = trueReward; Grammatical = grammatical;
        _ptx = ptx;
        _policy.Training = false; _value.Model.Training = false; _reference.Training = false;
        _policyOpt = new JointOptimizer(policy, null, new AdamWOptions { WeightDecay = 0f });
        _valueOpt = new JointOptimizer(value.Model, value.Head, new AdamWOptions { WeightDecay = 0f });
        _sampler = new RolloutSampler(policy);
        _rng = new Rng(options.Seed, 41);
        _order = Enumerable.Range(0, prompts.Count).ToArray();
        _cursor = _order.Length;
        KlCoefficient = options.KlCoefficient;
    }

    /// <summary>The options.</summary>
    public PpoOptions Options { get; }
    /// <summary>Iterations done.</summary>
    public int Iteration { get; private set; }
    /// <summary>β now (moves when the adaptive controller is on).</summary>
    public double KlCoefficient { get; private set; }
    /// <summary>The true reward, when known (logged, never trained on).</summary>
    public Func<string, string, double>? TrueReward { get; }
    /// <summary>The grammar check, when known.</summary>
    public Func<string, string, bool>? Grammatical { get; }
    /// <summary>Iteration of the last checkpoint written (0: none).</summary>
    public int LastCheckpoint { get; private set; }

    private int[][] NextPrompts(int n)
    {
        var batch = new int[n][];
        for (int i = 0; i < n; i++)
        {
            if (_cursor == _order.Length)
            {
                _rng.Shuffle<int>(_order);
                _cursor = 0;
            }
            batch[i] = _promptIds[_order[_cursor++]];
        }
        return batch;
    }

    /// <summary>One iteration: rollouts, rewards, advantages, then <see cref="PpoOptions.PpoEpochs"/> passes of minibatch updates.</summary>
    public PpoIteration Step()
    {
        var clock = Stopwatch.StartNew();
        var o = Options;
        int B = o.Batch, T = _T, N = B * T;
        var prompts = NextPrompts(B);
        var genClock = Stopwatch.StartNew();
        var rolls = _sampler.Sample(prompts, o.MaxNewTokens, _endToken, o.Temperature, ref _rng);
        double genSeconds = genClock.Elapsed.TotalSeconds;
        var batch = new SequenceBatch(rolls, T);
        var promptTexts = rolls.Select(r => _tokenizer.Decode(r.Prompt)).ToList();
        var texts = rolls.Select(r => PolicyTraining.ResponseText(_tokenizer, r)).ToList();

        var oldLogp = new float[N];
        var refLogp = new float[N];
        var values = new float[N];
        PolicyTraining.LogProbs(_policy, batch, _rows, oldLogp);
        PolicyTraining.LogProbs(_reference, batch, _rows, refLogp);
        for (int b0 = 0; b0 < B; b0 += _rows)
        {
            int n = Math.Min(_rows, B - b0);
            _value.Forward(batch.Inputs.AsSpan(b0 * T, n * T), n, T, default, values.AsSpan(b0 * T, n * T));
        }
        var scores = _reward.Score(rolls, promptTexts, texts);
        for (int b = 0; b < B; b++)
            if (!float.IsFinite(scores[b]))
                throw new InvalidDataException($"iteration {Iteration + 1}: the reward of rollout {b} is {scores[b]}; the run stopped (the checkpoint from iteration {LastCheckpoint} is intact)");

        // Per-token rewards: −β·(log π_old − log π_ref) at every response token, the score (less the missing-end penalty) at the last.
        var rewards = new float[N];
        var adv = new float[N];
        var returns = new float[N];
        double kl = 0, score = 0, trueR = 0, gram = 0, finished = 0;
        for (int b = 0; b < B; b++)
        {
            int s = batch.Start[b], n = batch.Length[b];
            for (int t = 0; t < n; t++)
            {
                float k = oldLogp[s + t] - refLogp[s + t];
                kl += k;
                rewards[s + t] = (float)(-KlCoefficient * k);
            }
            float sc = scores[b] - (rolls[b].Finished ? 0f : o.MissingEndPenalty);
            rewards[s + n - 1] += sc;
            score += scores[b];
            if (TrueReward is not null) trueR += TrueReward(promptTexts[b], texts[b]);
            if (Grammatical is not null && Grammatical(promptTexts[b], texts[b])) gram++;
            if (rolls[b].Finished) finished++;
            PolicyMath.Gae(rewards.AsSpan(s, n), values.AsSpan(s, n), o.Gamma, o.Lambda, adv.AsSpan(s, n), returns.AsSpan(s, n));
        }
        double explained = PolicyMath.ExplainedVariance(values, returns, batch.Mask);
        if (o.WhitenAdvantages) PolicyMath.Whiten(adv, batch.Mask);
        int tokens = batch.Tokens;

        // PPO epochs over shuffled minibatches of rows.
        var rowsOrder = Enumerable.Range(0, B).ToArray();
        int mb = _rows, M = mb * T;
        var mInputs = new int[M]; var mTargets = new int[M]; var mWeights = new float[M];
        var mOld = new float[M]; var mAdv = new float[M]; var mRet = new float[M]; var mOldV = new float[M];
        var logp = new float[M]; var ent = new float[M]; var dLogp = new float[M]; var dEnt = new float[M];
        var v = new float[M]; var dv = new float[M];
        double policyLoss = 0, valueLoss = 0, approxKl = 0, entropy = 0; long clipped = 0, updates = 0; int steps = 0;
        for (int epoch = 0; epoch < o.PpoEpochs; epoch++)
        {
            _rng.Shuffle<int>(rowsOrder);
            for (int r0 = 0; r0 + mb <= B; r0 += mb)
            {
                int mTokens = 0;
                for (int i = 0; i < mb; i++)
                {
                    int row = rowsOrder[r0 + i];
                    batch.Inputs.AsSpan(row * T, T).CopyTo(mInputs.AsSpan(i * T));
                    batch.Targets.AsSpan(row * T, T).CopyTo(mTargets.AsSpan(i * T));
                    oldLogp.AsSpan(row * T, T).CopyTo(mOld.AsSpan(i * T));
                    adv.AsSpan(row * T, T).CopyTo(mAdv.AsSpan(i * T));
                    returns.AsSpan(row * T, T).CopyTo(mRet.AsSpan(i * T));
                    values.AsSpan(row * T, T).CopyTo(mOldV.AsSpan(i * T));
                    mTokens += batch.Length[row];
                }
                for (int i = 0; i < M; i++) mWeights[i] = mTargets[i] == CrossEntropy.IgnoreIndex ? 0f : 1f / mTokens;

                _policyOpt.ZeroGradients();
                _policy.ForwardLogProbs(mInputs, mTargets, mb, T, logp, ent);
                var (pl, clip, ak) = PolicyMath.ClippedPolicyLoss(logp, mOld, mAdv, mWeights, o.Clip, dLogp);
                double entMean = 0;
                for (int i = 0; i < M; i++) { entMean += mWeights[i] * ent[i]; dEnt[i] = -o.EntropyCoefficient * mWeights[i]; }
                double total = pl - o.EntropyCoefficient * entMean;
                if (!double.IsFinite(total)) throw new NonFiniteLossException(Iteration + 1, (float)total, LastCheckpoint);
                _policy.Backward(dLogp, default, o.EntropyCoefficient > 0 ? dEnt : default);
                if (o.PtxCoefficient > 0) PtxBackward(mb, T, o.PtxCoefficient);
                _policyOpt.Update(o.LearningRate, o.GradientClip);

                _valueOpt.ZeroGradients();
                _value.Forward(mInputs, mb, T, default, v);
                double vl = PolicyMath.ClippedValueLoss(v, mOldV, mRet, mWeights, o.ValueClip, dv);
                if (!double.IsFinite(vl)) throw new NonFiniteLossException(Iteration + 1, (float)vl, LastCheckpoint);
                _value.Backward(dv, default);
                _valueOpt.Update(o.ValueLearningRate, o.GradientClip);

                policyLoss += pl; valueLoss += vl; approxKl += ak; entropy += entMean; clipped += clip; updates += mTokens; steps++;
            }
        }
        Iteration++;
        double betaUsed = KlCoefficient; // the log reports the β this iteration's rewards used, not the controller's next one
        if (o.TargetKl is float target)
        {
            // Ziegler et al. (2019): β ← β(1 + K_β·e), e = clip(KL/target − 1, ±0.2), K_β = batch / horizon.
            double e = Math.Clamp(kl / B / target - 1, -0.2, 0.2);
            KlCoefficient *= 1 + e * B / o.KlHorizon;
        }
        _seconds += clock.Elapsed.TotalSeconds;
        return new PpoIteration
        {
            Iteration = Iteration, TrueReward = TrueReward is null ? double.NaN : trueR / B, ModelReward = score / B, Kl = kl / B,
            KlPerToken = tokens == 0 ? 0 : kl / tokens, KlCoefficient = betaUsed, ClipFraction = updates == 0 ? 0 : (double)clipped / updates,
            ApproxKl = steps == 0 ? 0 : approxKl / steps, Entropy = steps == 0 ? 0 : entropy / steps, ValueLoss = steps == 0 ? 0 : valueLoss / steps,
            PolicyLoss = steps == 0 ? 0 : policyLoss / steps, ExplainedVariance = explained, ResponseLength = (double)tokens / B,
            FinishedRate = finished / B, GrammaticalRate = Grammatical is null ? double.NaN : gram / B,
            RolloutTokensPerSecond = genSeconds > 0 ? tokens / genSeconds : 0, Seconds = _seconds,
        };
    }

    private int[]? _ptxInputs, _ptxTargets;

    // PPO-ptx (InstructGPT eq. 2): γ·(mean pre-training loss) over a batch of pre-training rows, gradients added to the policy's.
    private void PtxBackward(int rows, int T, float coef)
    {
        _ptxInputs ??= new int[rows * T];
        _ptxTargets ??= new int[rows * T];
        Array.Clear(_ptxInputs);
        _ptxTargets.AsSpan().Fill(CrossEntropy.IgnoreIndex);
        for (int r = 0; r < rows; r++)
        {
            var s = _ptx![_ptxCursor++ % _ptx.Count];
            int n = Math.Min(s.Length, T + 1);
            s.AsSpan(0, n - 1).CopyTo(_ptxInputs.AsSpan(r * T));
            s.AsSpan(1, n - 1).CopyTo(_ptxTargets.AsSpan(r * T));
        }
        _policy.Forward(_ptxInputs, _ptxTargets, rows, T, computeGradients: true, gradScale: coef);
        _policy.Backward();
    }

    /// <summary>Evaluates the policy on <paramref name="prompts"/> (held out): true reward, training reward, exact KL, grammatical rate.</summary>
    public PolicyEvaluation Evaluate(IReadOnlyList<string> prompts, ulong seed) =>
        PolicyTraining.Evaluate(_policy, _reference, _tokenizer, prompts, _endToken, Options.MaxNewTokens, seed, TrueReward, Grammatical, _reward);

    private sealed record State(int Iteration, double KlCoefficient, ulong RngState, ulong RngIncrement, int[] Order, int Cursor, int PtxCursor, double Seconds);

    /// <summary>
    /// Writes everything a resume needs into <paramref name="directory"/>: the policy (a checkpoint that loads anywhere),
    /// the value model, both optimizers' moments, the reference (once) and the loop's state (written last).
    /// </summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        Checkpoint.Save(directory, _policy, tokenizer: _tokenizer);
        _policyOpt.Save(Path.Combine(directory, "policy_optimizer.safetensors"));
        _value.Save(Path.Combine(directory, "value"), "value");
        _valueOpt.Save(Path.Combine(directory, "value_optimizer.safetensors"));
        string refDir = Path.Combine(directory, "reference");
        if (!File.Exists(Path.Combine(refDir, Checkpoint.FileName))) Checkpoint.Save(refDir, _reference, tokenizer: _tokenizer);
        var state = new State(Iteration, KlCoefficient, _rng.State, _rng.Increment, _order, _cursor, _ptxCursor, _seconds);
        Checkpoint.WriteAtomically(Path.Combine(directory, StateFile), s => s.Write(JsonSerializer.SerializeToUtf8Bytes(state)));
        LastCheckpoint = Iteration;
    }

    /// <summary>True when <paramref name="directory"/> holds a PPO run's state.</summary>
    public static bool HasState(string directory) => File.Exists(Path.Combine(directory, StateFile));

    /// <summary>
    /// Restores the loop's state and the optimizers' moments saved by <see cref="Save"/> into a trainer built from the same
    /// directory's models (policy from the directory, value from value/, reference from reference/).
    /// </summary>
    public void Restore(string directory)
    {
        string path = Path.Combine(directory, StateFile);
        State s;
        try { s = JsonSerializer.Deserialize<State>(File.ReadAllBytes(path)) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a PPO state file ({e.Message.Split('\n')[0]})"); }
        if (s.Order.Length != _order.Length) throw new InvalidDataException($"{path}: the run had {s.Order.Length} prompts, now there are {_order.Length}");
        _policyOpt.Load(Path.Combine(directory, "policy_optimizer.safetensors"));
        _valueOpt.Load(Path.Combine(directory, "value_optimizer.safetensors"));
        Iteration = s.Iteration; KlCoefficient = s.KlCoefficient; _rng.State = s.RngState; _rng.Increment = s.RngIncrement;
        _order = s.Order; _cursor = s.Cursor; _ptxCursor = s.PtxCursor; _seconds = s.Seconds; LastCheckpoint = s.Iteration;
    }
}
