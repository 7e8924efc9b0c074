// RewardTraining: a reward model from preferences — Bradley-Terry loss over every ranked pair of a prompt's responses
// in one batch element (InstructGPT), optional centering, held-out pairwise accuracy.
using NextToken.Training;

namespace NextToken.Alignment;

/// <summary>Options of <see cref="RewardTraining.Train"/>.</summary>
public sealed record RewardTrainOptions
{
    /// <summary>Passes over the training examples.</summary>
    public double Epochs { get; init; } = 5;
    /// <summary>Prompts per optimizer step (each with all its responses and pairs).</summary>
    public int Batch { get; init; } = 16;
    /// <summary>Peak learning rate (cosine to a tenth, 5% warm-up).</summary>
    public float LearningRate { get; init; } = 1e-3f;
    /// <summary>Weight decay.</summary>
    public float WeightDecay { get; init; } = 0f;
    /// <summary>Global gradient-norm clip.</summary>
    public float GradientClip { get; init; } = 1f;
    /// <summary>Reward centering (Eisenstein et al. 2023): coefficient of the auxiliary loss (r⁺ + r⁻)², which pulls the scores toward zero mean; 0: off.</summary>
    public float CenterCoefficient { get; init; }
    /// <summary>Seed of the example order.</summary>
    public ulong Seed { get; init; } = 1337;
}

/// <summary>One reward-model step's figures.</summary>
public sealed record RewardStep(int Step, int Steps, double Loss, double Accuracy, float LearningRate);

/// <summary>What <see cref="RewardTraining.Train"/> measured.</summary>
public sealed record RewardTrainResult(int Steps, double FinalLoss, double TrainAccuracy, double HeldOutAccuracy, int HeldOutPairs, double MeanScore);

/// <summary>Trains a <see cref="ScalarModel"/> on preference data (docs/alignment.md).</summary>
public static class RewardTraining
{
    /// <summary>Prompt + response token sequences of every example, in order (prompt and response tokenized separately and joined).</summary>
    public static int[][][] Tokenize(ScalarModel rm, IReadOnlyList<PreferenceExample> examples) =>
        examples.Select(e =>
        {
            int[] p = rm.Tokenizer.Encode(e.Prompt);
            return e.Responses.Select(r => (int[])[.. p, .. rm.Tokenizer.Encode(r)]).ToArray();
        }).ToArray();

    /// <summary>
    /// Trains <paramref name="rm"/> with −log σ(r(x, y_better) − r(x, y_worse)) averaged over each prompt's pairs and then
    /// over the prompts of a batch. Returns the held-out pairwise accuracy (ties count as wrong).
    /// </summary>
    public static RewardTrainResult Train(ScalarModel rm, IReadOnlyList<PreferenceExample> train, IReadOnlyList<PreferenceExample>? heldOut,
                                          RewardTrainOptions options, Action<RewardStep>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(rm);
        if (train.Count == 0) throw new ArgumentException("no training examples");
        var seqs = Tokenize(rm, train);
        int T = Math.Min(rm.Model.ContextLength, seqs.SelectMany(s => s).Max(s => s.Length));
        int steps = Math.Max(1, (int)Math.Ceiling(options.Epochs * train.Count / options.Batch));
        var opt = new JointOptimizer(rm.Model, rm.Head, new AdamWOptions { WeightDecay = options.WeightDecay, Beta2 = 0.99f });
        var rng = new Tensors.Rng(options.Seed, 23);
        var order = Enumerable.Range(0, train.Count).ToArray();
        int cursor = order.Length;
        double loss = double.NaN, acc = 0;
        int warmup = Math.Max(1, steps / 20);
        opt.ZeroGradients();
        for (int step = 0; step < steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = new List<int>(options.Batch);
            while (batch.Count < Math.Min(options.Batch, train.Count))
            {
                if (cursor == order.Length) { rng.Shuffle<int>(order); cursor = 0; }
                batch.Add(order[cursor++]);
            }
            (loss, acc) = Step(rm, batch.Select(i => seqs[i]).ToList(), T, options.CenterCoefficient, computeGradients: true);
            if (!double.IsFinite(loss)) throw new NonFiniteLossException(step + 1, (float)loss, 0);
            float lr = LearningRateSchedule.At(step, options.LearningRate, options.LearningRate / 10, warmup, steps);
            opt.Update(lr, options.GradientClip);
            progress?.Invoke(new RewardStep(step + 1, steps, loss, acc, lr));
        }
        var trainAcc = Accuracy(rm, seqs, T);
        var heldSeqs = heldOut is null ? null : Tokenize(rm, heldOut);
        var (heldAcc, heldPairs) = heldSeqs is null ? (double.NaN, 0) : AccuracyAndPairs(rm, heldSeqs, T);
        double mean = rm.Score(seqs.SelectMany(s => s).ToList()).Average(x => (double)x);
        return new RewardTrainResult(steps, loss, trainAcc, heldAcc, heldPairs, mean);
    }

    // One batch of prompts: every response of every prompt scored in one forward; loss and gradient over their pairs.
    internal static (double Loss, double Accuracy) Step(ScalarModel rm, IReadOnlyList<int[][]> groups, int T, float centerCoef, bool computeGradients)
    {
        int B = groups.Sum(g => g.Length);
        var inputs = new int[B * T];
        var rows = new int[B];
        int b = 0;
        foreach (var g in groups)
            foreach (var s in g)
            {
                var tail = s.Length > T ? s.AsSpan(s.Length - T) : s;
                tail.CopyTo(inputs.AsSpan(b * T));
                rows[b] = b * T + tail.Length - 1;
                b++;
            }
        var scores = new float[B];
        rm.Forward(inputs, B, T, rows, scores);
        var dScores = new float[B];
        double loss = 0; int right = 0, pairs = 0;
        int offset = 0;
        foreach (var g in groups)
        {
            int K = g.Length, np = K * (K - 1) / 2;
            for (int i = 0; i < K; i++)
                for (int j = i + 1; j < K; j++)
                {
                    double l = PolicyMath.BradleyTerry(scores[offset + i], scores[offset + j], out double dm);
                    double sum = scores[offset + i] + scores[offset + j];
                    loss += (l + centerCoef * sum * sum) / np / groups.Count;
                    double dc = 2 * centerCoef * sum;
                    dScores[offset + i] += (float)((dm + dc) / np / groups.Count);
                    dScores[offset + j] += (float)((-dm + dc) / np / groups.Count);
                    if (scores[offset + i] > scores[offset + j]) right++;
                    pairs++;
                }
            offset += K;
        }
        if (computeGradients) rm.Backward(dScores, rows);
        return (loss, pairs == 0 ? double.NaN : (double)right / pairs);
    }

    /// <summary>Share of pairs whose better response scores strictly higher.</summary>
    public static double Accuracy(ScalarModel rm, IReadOnlyList<int[][]> groups, int T) => AccuracyAndPairs(rm, groups, T).Accuracy;

    private static (double Accuracy, int Pairs) AccuracyAndPairs(ScalarModel rm, IReadOnlyList<int[][]> groups, int T)
    {
        var flat = groups.SelectMany(g => g).ToList();
        var scores = rm.Score(flat);
        int right = 0, pairs = 0, offset = 0;
        foreach (var g in groups)
        {
            for (int i = 0; i < g.Length; i++)
                for (int j = i + 1; j < g.Length; j++) { if (scores[offset + i] > scores[offset + j]) right++; pairs++; }
            offset += g.Length;
        }
        return (pairs == 0 ? double.NaN : (double)right / pairs, pairs);
    }
}
