// CrossEntropy: fused softmax + cross-entropy whose backward overwrites the logits with their gradient in place, plus
// per-token log-probabilities and entropies and their backward (losses computed outside the model: PPO, DPO).
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
        public float* Logits, Losses, DlossRows, Entropy, DEntropy;
        public int* Targets;
        public int V;
        public float Dloss;
        public bool Gradient;
    }

    /// <summary>
    /// logits is (N, V) with row stride V; targets (N); losses (N) receives -log p(target) (0 where ignored).
    /// When <paramref name="dloss"/> is non-zero each row of logits is overwritten with its gradient scaled by dloss
    /// (else the logits are left unchanged). Returns the number of positions that were not ignored.
    /// </summary>
    public static int ForwardBackward(Span<float> logits, ReadOnlySpan<int> targets, Span<float> losses, int N, int V, float dloss)
    {
        int counted = CheckTargets(logits, targets, losses, N, V);
        if (N == 0) return 0;
        fixed (float* pl = logits, ploss = losses)
        fixed (int* pt = targets)
        {
            var ctx = new Ctx { Logits = pl, Losses = ploss, Targets = pt, V = V, Dloss = dloss, Gradient = dloss != 0f };
            ParallelRows.For(N, &ctx, &Row);
        }
        return counted;
    }

    /// <summary>
    /// As <see cref="ForwardBackward(Span{float}, ReadOnlySpan{int}, Span{float}, int, int, float)"/> with a scale per row:
    /// row n of logits becomes dloss[n] · (softmax − onehot) (zero where dloss[n] = 0 or the target is ignored), so
    /// per-token loss weights cost nothing extra. Returns the number of positions that were not ignored.
    /// </summary>
    public static int ForwardBackward(Span<float> logits, ReadOnlySpan<int> targets, Span<float> losses, ReadOnlySpan<float> dloss, int N, int V)
    {
        int counted = CheckTargets(logits, targets, losses, N, V);
        if (dloss.Length < N) throw new ArgumentException($"dloss needs one scale per row ({N})", nameof(dloss));
        if (N == 0) return 0;
        fixed (float* pl = logits, ploss = losses, pd = dloss)
        fixed (int* pt = targets)
        {
            var ctx = new Ctx { Logits = pl, Losses = ploss, Targets = pt, V = V, DlossRows = pd, Gradient = true };
            ParallelRows.For(N, &ctx, &Row);
        }
        return counted;
    }

    private static int CheckTargets(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, ReadOnlySpan<float> losses, int N, int V)
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
        return counted;
    }

    private static Span<float> RowBuffer(int V)
    {
        var buf = t_row;
        if (buf is null || buf.Length < V) t_row = buf = new float[V];
        return buf.AsSpan(0, V);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row(void* p, int n)
    {
        ref var c = ref *(Ctx*)p;
        int V = c.V, target = c.Targets[n];
        float dloss = c.DlossRows is null ? c.Dloss : c.DlossRows[n];
        var row = new Span<float>(c.Logits + (long)n * V, V);
        if (target == IgnoreIndex)
        {
            c.Losses[n] = 0f;
            if (c.Gradient) row.Clear();
            return;
        }
        float max = TensorPrimitives.Max(row);
        float zt = row[target] - max;
        // exp(z - max) in one pass into the row itself when it becomes the gradient, else into a per-thread copy.
        Span<float> e = row;
        if (!c.Gradient)
        {
            e = RowBuffer(V);
            row.CopyTo(e);
        }
        float sum;
        fixed (float* pe = e) sum = VectorMath.ExpScaled(pe, V, 1f, max);
        c.Losses[n] = MathF.Log(sum) - zt;
        if (c.Gradient)
        {
            TensorPrimitives.Multiply(e, dloss / sum, e);
            e[target] -= dloss;
        }
    }

    /// <summary>
    /// logits is (N, V) (unchanged); targets (N); logp (N) receives log p(target) (0 where ignored); entropy (N, or empty)
    /// receives H = −Σ_j p_j log p_j of each row's distribution (for every row, ignored or not).
    /// </summary>
    public static void LogProbs(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> logp, Span<float> entropy, int N, int V)
    {
        CheckTargets(logits, targets, logp, N, V);
        if (!entropy.IsEmpty && entropy.Length < N) throw new ArgumentException($"entropy needs {N} floats", nameof(entropy));
        if (N == 0) return;
        fixed (float* pl = logits, plp = logp, pe = entropy)
        fixed (int* pt = targets)
        {
            var ctx = new Ctx { Logits = pl, Losses = plp, Entropy = entropy.IsEmpty ? null : pe, Targets = pt, V = V };
            ParallelRows.For(N, &ctx, &LogProbRow);
        }
    }

    // With e_j = exp(z_j − max) and S = Σ e_j: log p_t = z_t − max − log S; H = log S + max − Σ_j e_j z_j / S.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LogProbRow(void* p, int n)
    {
        ref var c = ref *(Ctx*)p;
        int V = c.V, target = c.Targets[n];
        var row = new ReadOnlySpan<float>(c.Logits + (long)n * V, V);
        float max = TensorPrimitives.Max(row);
        var e = RowBuffer(V);
        row.CopyTo(e);
        float sum;
        fixed (float* pe = e) sum = VectorMath.ExpScaled(pe, V, 1f, max);
        float logSum = MathF.Log(sum);
        c.Losses[n] = target == IgnoreIndex ? 0f : row[target] - max - logSum;
        if (c.Entropy is not null) c.Entropy[n] = logSum + max - TensorPrimitives.Dot(e, row) / sum;
    }

    /// <summary>
    /// Backward of <see cref="LogProbs"/>. logits (N, V) holds the logits on entry and dlogits on return (overwritten);
    /// dlogp (N) is dL/d log p(target) (ignored rows contribute nothing), dentropy (N, or empty) is dL/dH. With
    /// p = softmax(z): d log p_t / dz_j = 1[j = t] − p_j and dH/dz_j = −p_j (log p_j + H).
    /// </summary>
    public static void LogProbBackward(Span<float> logits, ReadOnlySpan<int> targets, ReadOnlySpan<float> dlogp, ReadOnlySpan<float> dentropy, int N, int V)
    {
        if (logits.Length < (long)N * V || targets.Length < N || (!dlogp.IsEmpty && dlogp.Length < N) || (!dentropy.IsEmpty && dentropy.Length < N))
            throw new ArgumentException($"log-prob backward buffers too small for N={N}, V={V}");
        if (N == 0) return;
        fixed (float* pl = logits, pd = dlogp, pde = dentropy)
        fixed (int* pt = targets)
        {
            var ctx = new Ctx { Logits = pl, DlossRows = dlogp.IsEmpty ? null : pd, DEntropy = dentropy.IsEmpty ? null : pde, Targets = pt, V = V };
            ParallelRows.For(N, &ctx, &LogProbBackwardRow);
        }
    }

    // dz_j = −p_j (a + dH·z_j) with a = dlogp + dH (H − lse), then dz_t += dlogp (lse = max + log S, log p_j = z_j − lse).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void LogProbBackwardRow(void* p, int n)
    {
        ref var c = ref *(Ctx*)p;
        int V = c.V, target = c.Targets[n];
        float dlp = c.DlossRows is null || target == IgnoreIndex ? 0f : c.DlossRows[n];
        float dH = c.DEntropy is null ? 0f : c.DEntropy[n];
        var row = new Span<float>(c.Logits + (long)n * V, V);
        if (dlp == 0f && dH == 0f) { row.Clear(); return; }
        float max = TensorPrimitives.Max(row);
        var e = RowBuffer(V);
        row.CopyTo(e);
        float sum;
        fixed (float* pe = e) sum = VectorMath.ExpScaled(pe, V, 1f, max);
        TensorPrimitives.Multiply(e, 1f / sum, e);                     // p
        float lse = max + MathF.Log(sum);
        float H = lse - TensorPrimitives.Dot(e, row);
        float a = dlp + dH * (H - lse);
        TensorPrimitives.Multiply(row, dH, row);
        TensorPrimitives.Add(row, a, row);                             // a + dH z_j
        TensorPrimitives.Multiply(row, e, row);
        TensorPrimitives.Negate(row, row);
        if (target != IgnoreIndex) row[target] += dlp;
    }
}
