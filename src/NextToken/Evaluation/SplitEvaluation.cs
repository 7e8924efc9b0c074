// SplitEvaluation: the mean next-token loss of a model over a whole token file, every target counted exactly once.
using NextToken.Data;
using NextToken.Kernels;
using NextToken.Model;

namespace NextToken.Evaluation;

/// <summary>
/// Evaluates a model on every token of a split (not a sample of batches, as the trainer's periodic estimate does):
/// windows of <c>T</c> inputs start every <c>stride</c> tokens; a window's targets that an earlier window already
/// counted are masked with <see cref="CrossEntropy.IgnoreIndex"/>, and the last window is aligned to the end of the
/// split, so each token after the first is predicted exactly once. <c>stride = T</c> gives non-overlapping windows
/// (each target sees 0..T−1 tokens of context); a smaller stride gives every target at least T − stride tokens of
/// context (the sliding-window perplexity of Hugging Face's guide) at T/stride times the cost.
/// </summary>
public static class SplitEvaluation
{
    /// <summary>Evaluates <paramref name="model"/> on a token file; <paramref name="maxTokens"/> &gt; 0 stops after that many targets.</summary>
    public static SplitLoss Run(GptModel model, TokenFile tokens, int sequenceLength, int stride, int batchSize, long maxTokens = 0,
                                Action<long, long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return Run(model, (ITokenSource)tokens, sequenceLength, stride, batchSize, maxTokens, progress);
    }

    /// <summary>Evaluates <paramref name="model"/> on tokens held in memory.</summary>
    public static SplitLoss Run(GptModel model, int[] tokens, int sequenceLength, int stride, int batchSize, long maxTokens = 0,
                                Action<long, long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return Run(model, new ArrayTokenSource(tokens), sequenceLength, stride, batchSize, maxTokens, progress);
    }

    private static SplitLoss Run(GptModel model, ITokenSource source, int T, int stride, int B, long maxTokens, Action<long, long>? progress)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (T < 1 || T > model.ContextLength) throw new ArgumentOutOfRangeException(nameof(T), $"sequence length {T} must be between 1 and the model's context {model.ContextLength}");
        if (stride < 1 || stride > T) throw new ArgumentOutOfRangeException(nameof(stride), $"stride {stride} must be between 1 and the sequence length {T}");
        if (B < 1) throw new ArgumentOutOfRangeException(nameof(B), $"batch {B} must be at least 1");
        long count = source.Count;
        if (count < 2) throw new ArgumentException($"the split has {count} token(s); evaluation needs at least 2 (an input and its target)");
        T = (int)Math.Min(T, count - 1);
        stride = Math.Min(stride, T);
        long targets = count - 1; // target j (1..count-1) is token j predicted from the tokens before it
        if (maxTokens > 0) targets = Math.Min(targets, maxTokens);
        var inputs = new int[B * T];
        var tgt = new int[B * T];
        var window = new int[T + 1];
        bool wasTraining = model.Training;
        model.Training = false;
        try
        {
            double sum = 0;
            long counted = 0, windows = 0, next = 1; // next: the first target not yet counted
            while (next <= targets)
            {
                int rows = 0;
                for (; rows < B && next <= targets; rows++)
                {
                    // The window whose last target is next + stride - 1 (or the end), started as late as possible
                    // so that every target gets the most context the stride allows.
                    long last = Math.Min(next + stride - 1, targets);
                    if (last < T) last = Math.Min(T, targets); // the first window counts all its targets
                    long start = Math.Max(0, last - T);         // inputs start..start+T-1, targets start+1..start+T
                    source.Read(start, window);
                    for (int t = 0; t < T; t++)
                    {
                        long j = start + 1 + t;
                        inputs[rows * T + t] = window[t];
                        tgt[rows * T + t] = j >= next && j <= last ? window[t + 1] : CrossEntropy.IgnoreIndex;
                    }
                    next = last + 1;
                    windows++;
                }
                for (int i = rows * T; i < B * T; i++) { inputs[i] = 0; tgt[i] = CrossEntropy.IgnoreIndex; }
                model.Forward(inputs, tgt, B, T);
                foreach (float l in model.LastLosses) sum += l;
                counted += model.LastTargetCount;
                progress?.Invoke(counted, targets);
            }
            return new SplitLoss(sum / counted, counted, windows, T, stride);
        }
        finally { model.Training = wasTraining; }
    }
}
