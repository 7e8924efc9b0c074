// DpoTrainer: direct preference optimisation (Rafailov et al. 2023) and its IPO and hinge variants, with the reference
// model's log-probabilities computed once for every response and cached.
using System.Diagnostics;
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Tokenization;
using NextToken.Training;

namespace NextToken.Alignment;

/// <summary>Options of <see cref="DpoTrainer"/>.</summary>
public sealed record DpoOptions
{
    /// <summary>β: strength of the implicit KL constraint.</summary>
    public float Beta { get; init; } = 0.1f;
    /// <summary>The loss.</summary>
    public DpoLoss Loss { get; init; } = DpoLoss.Sigmoid;
    /// <summary>Passes over the pairs.</summary>
    public double Epochs { get; init; } = 1;
    /// <summary>Pairs per optimizer step.</summary>
    public int Batch { get; init; } = 16;
    /// <summary>Peak learning rate (5% warm-up, cosine to a tenth).</summary>
    public float LearningRate { get; init; } = 1e-4f;
    /// <summary>Global gradient-norm clip.</summary>
    public float GradientClip { get; init; } = 1f;
    /// <summary>Seed of the pair order.</summary>
    public ulong Seed { get; init; } = 1337;
}

/// <summary>One DPO step's figures.</summary>
public sealed record DpoStep(int Step, int Steps, double Loss, double Accuracy, double Margin, float LearningRate);

/// <summary>DPO over preference pairs (every ordered pair of a ranked list), in place on the policy.</summary>
public sealed class DpoTrainer
{
    private readonly GptModel _policy;
    private readonly (int[] Chosen, int[] Rejected, int PromptLength)[] _pairs;
    private readonly double[] _refChosen, _refRejected;
    private readonly int _T;

    /// <summary>Tokenizes the pairs and caches the reference's summed log-probabilities of every response (one pass).</summary>
    public DpoTrainer(GptModel policy, GptModel reference, ITokenizer tokenizer, IReadOnlyList<PreferenceExample> examples, DpoOptions options)
    {
        _policy = policy; Options = options;
        if (options.Beta <= 0) throw new ArgumentException($"{nameof(DpoOptions.Beta)} must be positive (got {options.Beta})", nameof(DpoOptions.Beta));
        var pairs = new List<(int[], int[], int)>();
        foreach (var e in examples)
        {
            int[] p = tokenizer.Encode(e.Prompt);
            var rs = e.Responses.Select(r => (int[])[.. p, .. tokenizer.Encode(r)]).ToArray();
            foreach (var (i, j) in e.Pairs()) pairs.Add((rs[i], rs[j], p.Length));
        }
        if (pairs.Count == 0) throw new ArgumentException("no preference pairs");
        _pairs = [.. pairs];
        _T = Math.Min(policy.ContextLength, _pairs.Max(x => Math.Max(x.Chosen.Length, x.Rejected.Length)));
        foreach (var (c, r, _) in _pairs)
            if (c.Length > _T + 1 || r.Length > _T + 1) throw new ArgumentException($"a prompt + response of {Math.Max(c.Length, r.Length)} tokens exceeds the context of {policy.ContextLength}");
        _refChosen = new double[_pairs.Length];
        _refRejected = new double[_pairs.Length];
        reference.Training = false;
        int chunk = Math.Max(1, options.Batch);
        for (int i0 = 0; i0 < _pairs.Length; i0 += chunk)
        {
            var idx = Enumerable.Range(i0, Math.Min(chunk, _pairs.Length - i0)).ToArray();
            var sums = SequenceLogProbs(reference, idx, out _);
            for (int k = 0; k < idx.Length; k++) { _refChosen[idx[k]] = sums[2 * k]; _refRejected[idx[k]] = sums[2 * k + 1]; }
        }
    }

    /// <summary>The options.</summary>
    public DpoOptions Options { get; }
    /// <summary>Number of pairs.</summary>
    public int Pairs => _pairs.Length;

    private int[] _inputs = [], _targets = [];
    private float[] _logp = [];

    // Rows 2k (chosen) and 2k+1 (rejected) of pairs idx; returns each row's summed response log-probability.
    private double[] SequenceLogProbs(GptModel model, int[] idx, out int rows)
    {
        rows = 2 * idx.Length;
        int T = _T, N = rows * T;
        if (_inputs.Length < N) { _inputs = new int[N]; _targets = new int[N]; _logp = new float[N]; }
        var inputs = _inputs.AsSpan(0, N); var targets = _targets.AsSpan(0, N);
        inputs.Clear(); targets.Fill(CrossEntropy.IgnoreIndex);
        for (int k = 0; k < idx.Length; k++)
        {
            var (c, r, p) = _pairs[idx[k]];
            Lay(c, p, 2 * k); Lay(r, p, 2 * k + 1);
        }
        model.ForwardLogProbs(inputs, targets, rows, T, _logp.AsSpan(0, N));
        var sums = new double[rows];
        for (int i = 0; i < N; i++) if (_targets[i] != CrossEntropy.IgnoreIndex) sums[i / T] += _logp[i];
        return sums;

        void Lay(int[] seq, int p, int row)
        {
            int n = Math.Min(seq.Length, T + 1);
            seq.AsSpan(0, n - 1).CopyTo(_inputs.AsSpan(row * T));
            for (int t = Math.Max(p, 1); t < n; t++) _targets[row * T + t - 1] = seq[t];
        }
    }

    /// <summary>Trains for <see cref="DpoOptions.Epochs"/> passes; <paramref name="progress"/> gets every step.</summary>
    public DpoStep Train(Action<DpoStep>? progress = null, CancellationToken cancel = default)
    {
        var o = Options;
        int steps = Math.Max(1, (int)Math.Ceiling(o.Epochs * _pairs.Length / o.Batch));
        int warmup = Math.Max(1, steps / 20);
        var opt = new JointOptimizer(_policy, null, new AdamWOptions { WeightDecay = 0f });
        var rng = new Rng(o.Seed, 47);
        var order = Enumerable.Range(0, _pairs.Length).ToArray();
        int cursor = order.Length;
        DpoStep last = new(0, steps, double.NaN, double.NaN, double.NaN, 0);
        _policy.Training = false;
        for (int step = 0; step < steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            var idx = new int[Math.Min(o.Batch, _pairs.Length)];
            for (int k = 0; k < idx.Length; k++)
            {
                if (cursor == order.Length) { rng.Shuffle<int>(order); cursor = 0; }
                idx[k] = order[cursor++];
            }
            opt.ZeroGradients();
            var sums = SequenceLogProbs(_policy, idx, out int rows);
            var dRow = new double[rows];
            double loss = 0, margin = 0; int right = 0;
            for (int k = 0; k < idx.Length; k++)
            {
                loss += PolicyMath.Dpo(o.Loss, o.Beta, sums[2 * k], sums[2 * k + 1], _refChosen[idx[k]], _refRejected[idx[k]], out double dc, out double dr, out double h) / idx.Length;
                dRow[2 * k] = dc / idx.Length; dRow[2 * k + 1] = dr / idx.Length;
                margin += h / idx.Length;
                if (h > 0) right++;
            }
            if (!double.IsFinite(loss)) throw new NonFiniteLossException(step + 1, (float)loss, 0);
            int N = rows * _T;
            var dLogp = new float[N];
            for (int i = 0; i < N; i++) if (_targets[i] != CrossEntropy.IgnoreIndex) dLogp[i] = (float)dRow[i / _T];
            _policy.Backward(dLogp, default);
            float lr = LearningRateSchedule.At(step, o.LearningRate, o.LearningRate / 10, warmup, steps);
            opt.Update(lr, o.GradientClip);
            last = new DpoStep(step + 1, steps, loss, (double)right / idx.Length, margin, lr);
            progress?.Invoke(last);
        }
        return last;
    }
}
