// SplitEvaluation: every target counted once, against a brute-force per-target reference; batch invariance; bad input.
using NextToken.Model;
using NextToken.Tensors;
using NextToken.Evaluation;
using NextToken.Generation;

namespace NextToken.Tests.Evaluation;

public sealed class SplitEvaluationTests
{
    private const int Vocab = 11, Context = 8;

    private static GptModel Model() => new(new GptConfig { VocabSize = Vocab, ContextLength = Context, Layers = 2, Heads = 2, EmbeddingSize = 16, InitStd = 0.3f }, 4);

    private static int[] Tokens(int n)
    {
        var rng = new Rng(9);
        var t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rng.NextInt(Vocab);
        return t;
    }

    // -log p(tokens[j] | tokens[from..j-1]) from the logits of a single forward over exactly that context (log-sum-exp in double).
    private static double TargetLoss(GptModel model, int[] tokens, int from, int j)
    {
        int T = j - from;
        var logits = new float[T * model.VocabSize];
        model.ForwardLogits(tokens.AsSpan(from, T), 1, T, logits);
        var row = logits.AsSpan((T - 1) * model.VocabSize, model.VocabSize);
        return Sampling.LogSumExp(row) - row[tokens[j]];
    }

    [Fact]
    public void StrideOne_EachTargetSeesTheLongestContextTheWindowAllows()
    {
        var model = Model();
        var tokens = Tokens(29);
        double expected = 0;
        for (int j = 1; j < tokens.Length; j++) expected += TargetLoss(model, tokens, Math.Max(0, j - Context), j);
        expected /= tokens.Length - 1;
        var r = SplitEvaluation.Run(model, tokens, Context, stride: 1, batchSize: 3);
        Assert.Equal(tokens.Length - 1, r.Tokens);
        Assert.Equal(expected, r.Loss, 5);
    }

    [Theory]
    [InlineData(41, 8, 8)]   // non-overlapping windows, a partial last window aligned to the end
    [InlineData(40, 8, 8)]
    [InlineData(41, 8, 3)]
    [InlineData(9, 8, 5)]    // exactly one window
    [InlineData(30, 5, 5)]   // windows shorter than the context
    public void AnyStride_CountsEveryTargetOnceWithTheDocumentedContext(int n, int T, int stride)
    {
        var model = Model();
        var tokens = Tokens(n);
        // Reference: the window of the rule — target j belongs to the window whose last counted target is
        // min(next + stride - 1, n - 1) (at least T for the first), and that window starts at max(0, last - T).
        double expected = 0;
        int next = 1, windows = 0;
        while (next <= n - 1)
        {
            int last = Math.Min(next + stride - 1, n - 1);
            if (last < T) last = Math.Min(T, n - 1);
            int start = Math.Max(0, last - T);
            for (int j = next; j <= last; j++) expected += TargetLoss(model, tokens, start, j);
            next = last + 1;
            windows++;
        }
        expected /= n - 1;
        foreach (int batch in new[] { 1, 4 })
        {
            var r = SplitEvaluation.Run(model, tokens, T, stride, batch);
            Assert.Equal(n - 1, r.Tokens);
            Assert.Equal(windows, r.Windows);
            Assert.Equal(expected, r.Loss, 5);
        }
    }

    [Fact]
    public void BatchSize_DoesNotChangeTheResult()
    {
        var model = Model();
        var tokens = Tokens(200);
        var one = SplitEvaluation.Run(model, tokens, Context, Context, 1);
        var many = SplitEvaluation.Run(model, tokens, Context, Context, 7);
        Assert.Equal(one.Loss, many.Loss, 6);
        Assert.Equal(one.Windows, many.Windows);
    }

    [Fact]
    public void MaxTokens_StopsAfterThatManyTargets()
    {
        var r = SplitEvaluation.Run(Model(), Tokens(100), Context, Context, 2, maxTokens: 20);
        Assert.Equal(20, r.Tokens);
    }

    [Fact]
    public void BadArguments_Throw()
    {
        var model = Model();
        Assert.Throws<ArgumentOutOfRangeException>(() => SplitEvaluation.Run(model, Tokens(50), Context + 1, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SplitEvaluation.Run(model, Tokens(50), 4, 5, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SplitEvaluation.Run(model, Tokens(50), 4, 0, 1));
        Assert.Throws<ArgumentException>(() => SplitEvaluation.Run(model, Tokens(1), 4, 4, 1));
    }
}
