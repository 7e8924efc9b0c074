// CrossEntropy: fused softmax + cross-entropy whose backward overwrites the logits with their gradient in place.
namespace NextToken.Kernels;

/// <summary>
/// Softmax cross-entropy over the real vocabulary. The (N, V) probability tensor is never stored: the same pass
/// that computes a row's loss turns that row of logits into dlogits = (softmax - onehot) * dloss.
/// Targets equal to <see cref="IgnoreIndex"/> contribute no loss and no gradient (prompt masking in fine-tuning).
/// </summary>
public static unsafe class CrossEntropy
{
    /// <summary>Target value meaning "no loss at this position".</summary>
    public const int IgnoreIndex = -1;

    /// <summary>
    /// logits is (N, V) with row stride V; targets (N); losses (N) receives -log p(target) (0 where ignored).
    /// When <paramref name="dloss"/> is non-zero each row of logits is overwritten with its gradient scaled by dloss.
    /// Returns the number of positions that were not ignored.
    /// </summary>
    public static int ForwardBackward(Span<float> logits, ReadOnlySpan<int> targets, Span<float> losses, int N, int V, float dloss)
    {
        int counted = 0;
        for (int n = 0; n < N; n++)
        {
            int t = targets[n];
            if (t == IgnoreIndex) continue;
            if ((uint)t >= (uint)V) throw new ArgumentOutOfRangeException(nameof(targets), $"target id {t} is outside the vocabulary (0..{V - 1})");
            counted++;
        }
        fixed (float* pl = logits, ploss = losses)
        fixed (int* pt = targets)
        {
            float* l0 = pl, ls0 = ploss; int* t0 = pt;
            Parallel.For(0, N, n =>
            {
                float* row = l0 + (long)n * V;
                int target = t0[n];
                if (target == IgnoreIndex)
                {
                    ls0[n] = 0f;
                    if (dloss != 0f) new Span<float>(row, V).Clear();
                    return;
                }
                float max = float.NegativeInfinity;
                for (int v = 0; v < V; v++) if (row[v] > max) max = row[v];
                double sum = 0;
                for (int v = 0; v < V; v++) sum += MathF.Exp(row[v] - max);
                float logSum = (float)Math.Log(sum) + max;
                ls0[n] = logSum - row[target];
                if (dloss != 0f)
                {
                    for (int v = 0; v < V; v++) row[v] = MathF.Exp(row[v] - logSum) * dloss;
                    row[target] -= dloss;
                }
            });
        }
        return counted;
    }
}
