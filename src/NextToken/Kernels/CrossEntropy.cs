// CrossEntropy: fused softmax + cross-entropy whose backward overwrites the logits with their gradient in place.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace NextToken.Kernels;

/// <summary>
/// Softmax cross-entropy over the real vocabulary. The (N, V) probability tensor is never stored: the same pass
/// that computes a row's loss turns that row of logits into dlogits = (softmax - onehot) * dloss.
/// Targets equal to <see cref="IgnoreIndex"/> contribute no loss and no gradient (prompt masking in fine-tuning).
/// Parallel over rows; every row is vectorised: max, then exp(z - max) with its sum in one pass, then the scale
/// (three passes over a row that stays in L2).
/// </summary>
public static unsafe class CrossEntropy
{
    /// <summary>Target value meaning "no loss at this position".</summary>
    public const int IgnoreIndex = -1;

    [ThreadStatic] private static float[]? t_row;

    private struct Ctx
    {
        public float* Logits, Losses;
        public int* Targets;
        public int V;
        public float Dloss;
    }

    /// <summary>
    /// logits is (N, V) with row stride V; targets (N); losses (N) receives -log p(target) (0 where ignored).
    /// When <paramref name="dloss"/> is non-zero each row of logits is overwritten with its gradient scaled by dloss
    /// (else the logits are left unchanged). Returns the number of positions that were not ignored.
    /// </summary>
    public static int ForwardBackward(Span<float> logits, ReadOnlySpan<int> targets, Span<float> losses, int N, int V, float dloss)
    {
        if (logits.Length < (long)N * V || targets.Length < N || losses.Length < N)
            throw new ArgumentException($"cross-entropy buffers too small for N={N}, V={V}");
        int counted = 0;
        for (int n = 0; n < N; n++)
        {
            int t = targets[n];
            if (t == IgnoreIndex) continue;
            if ((uint)t >= (uint)V) throw new ArgumentOutOfRangeException(nameof(targets), $"target id {t} is outside the vocabulary (0..{V - 1})");
            counted++;
        }
        if (N == 0) return 0;
        fixed (float* pl = logits, ploss = losses)
        fixed (int* pt = targets)
        {
            var ctx = new Ctx { Logits = pl, Losses = ploss, Targets = pt, V = V, Dloss = dloss };
            ParallelRows.For(N, &ctx, &Row);
        }
        return counted;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row(void* p, int n)
    {
        ref var c = ref *(Ctx*)p;
        int V = c.V, target = c.Targets[n];
        var row = new Span<float>(c.Logits + (long)n * V, V);
        if (target == IgnoreIndex)
        {
            c.Losses[n] = 0f;
            if (c.Dloss != 0f) row.Clear();
            return;
        }
        float max = TensorPrimitives.Max(row);
        float zt = row[target] - max;
        // exp(z - max) in one pass into the row itself when it becomes the gradient, else into a per-thread copy.
        Span<float> e = row;
        if (c.Dloss == 0f)
        {
            var buf = t_row;
            if (buf is null || buf.Length < V) t_row = buf = new float[V];
            e = buf.AsSpan(0, V);
            row.CopyTo(e);
        }
        float sum;
        fixed (float* pe = e) sum = VectorMath.ExpScaled(pe, V, 1f, max);
        c.Losses[n] = MathF.Log(sum) - zt;
        if (c.Dloss != 0f)
        {
            TensorPrimitives.Multiply(e, c.Dloss / sum, e);
            e[target] -= c.Dloss;
        }
    }
}
