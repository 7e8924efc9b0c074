// Attention: fused causal self-attention (flash-style: O(T) memory per head) with grouped-query heads and per-row key
// ranges (document masks for packed sequences), forward and backward, plus the KV-cache decode form.
using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NextToken.Kernels;

/// <summary>
/// Causal self-attention over a fused QKV buffer of row width W = (NH + 2·NKV)·HS: query head h occupies columns
/// h·HS .. h·HS+HS-1, key head g columns (NH + g)·HS .., value head g columns (NH + NKV + g)·HS .. (with NKV = NH this is
/// GPT-2's c_attn layout). Query head h reads key/value head h / (NH/NKV): grouped-query attention (Ainslie et al. 2023,
/// GQA); NKV = 1 is multi-query attention (Shazeer 2019). Row t of sequence b attends to keys keyStart[b·T+t] .. t, or
/// to 0 .. t when keyStart is empty: several documents packed in one row each see only their own earlier tokens.
/// <para>
/// The (T, T) attention matrix is never stored (Dao et al. 2022, FlashAttention; Dao 2023, FlashAttention-2).
/// Forward keeps only the per-row log-sum-exp L_i = m_i + log Σ_j exp(s_ij - m_i) of the scaled scores
/// s_ij = q_i·k_j / sqrt(HS) in the scratch buffer (B, NH, T), computed with the online softmax over key blocks:
/// m' = max(m, max_j s_ij), l' = l·exp(m - m') + Σ_j exp(s_ij - m'), o' = o·exp(m - m') + Σ_j exp(s_ij - m') v_j,
/// and finally o_i = o/l. Backward recomputes P_ij = exp(s_ij - L_i) block by block, and with
/// D_i = rowsum(dO_i ∘ O_i): dV_j += Σ_i P_ij dO_i, dP_ij = dO_i·v_j, dS_ij = P_ij (dP_ij - D_i),
/// dQ_i += Σ_j dS_ij k_j / sqrt(HS), dK_j += Σ_i dS_ij q_i / sqrt(HS).
/// </para>
/// Scores are computed against a transposed copy of the keys (HS, T) so each score vector is a register
/// accumulator of broadcast(q[d]) × row d (no horizontal sums); P·V accumulates rows of v in registers.
/// <para>
/// A row's key blocks start at its own first key, so a document packed in a row gives bit-for-bit the forward it gives
/// alone (same blocks, same vector lanes, same sums); keys before a row's start are never touched by its forward and get
/// P = dS = 0 exactly in the backward.
/// </para>
/// </summary>
public static unsafe class Attention
{
    // Query rows per backward block (dK/dV are accumulated over a block of rows at once).
    private const int BackwardRows = 16;
    // Keys per online-softmax block: a block of scores stays in L1 (1 KB).
    private const int KeyBlock = 256;

    [ThreadStatic] private static float[]? t_buffer;

    /// <summary>Floats of scratch that <see cref="Forward(ReadOnlySpan{float}, Span{float}, Span{float}, ReadOnlySpan{int}, int, int, int, int, int)"/> fills and <see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float}, int, int, int, int, int)"/> reads: one log-sum-exp per row and query head (B·NH·T).</summary>
    public static long ScratchSize(int B, int T, int NH) => (long)B * NH * T;

    private static int Pad16(int n) => (n + 15) & ~15;

    // A per-thread buffer of at least n floats (pinned, kept between calls: no allocation in steady state), 64-byte
    // aligned: the packed panels and score rows are read and written in whole Vector512s at multiples of 16 floats, which
    // then never straddle a cache line (the array itself only comes 8-byte aligned).
    private static float* Buffer(int n)
    {
        var b = t_buffer;
        if (b is null || b.Length < n + 15) t_buffer = b = GC.AllocateUninitializedArray<float>(Math.Max(n + 15, 4096), pinned: true);
        nuint p = (nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(b)); // pinned: the address never changes
        return (float*)((p + 63) & ~(nuint)63);
    }

    private struct Ctx
    {
        public float* DOut, Qkv, Out, Lse, DQkv;
        public int* KeyStart; // (B·T), or null for plain causal attention
        public int B, T, NH, NKV, HS;
        public float Scale;
        public GemmIsa Isa; // resolved
    }

    // The first key row t of sequence b attends to (ks points at the sequence's entries, or is null: 0).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Start(int* ks, int t) => ks == null ? 0 : ks[t];

    // The smallest key start of rows t0 .. t1-1, aligned down to 16: a backward block's key columns begin there, and
    // the alignment keeps every vector store of a score row (RowTimesPacked*) within the padded row width.
    private static int BlockStart(int* ks, int t0, int t1)
    {
        if (ks == null) return 0;
        int s = ks[t0];
        for (int t = t0 + 1; t < t1; t++) s = Math.Min(s, ks[t]);
        return s & ~15;
    }

    private static void CheckDimensions(int B, int T, int NH, int NKV, int HS)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(B);
        ArgumentOutOfRangeException.ThrowIfNegative(T);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(NH);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(NKV);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(HS);
        if (NH % NKV != 0)
            throw new ArgumentException($"key/value heads NKV={NKV} must divide the query heads NH={NH} (NKV = NH for multi-head attention, 1 for multi-query)");
    }

    // keyStart is empty (plain causal) or holds one start per row with 0 ≤ keyStart[b·T+t] ≤ t.
    private static void CheckKeyStart(ReadOnlySpan<int> keyStart, int B, int T)
    {
        if (keyStart.IsEmpty) return;
        long n = (long)B * T;
        if (keyStart.Length < n)
            throw new ArgumentException($"keyStart has {keyStart.Length} entries but needs one per row, B·T = {B}·{T} = {n} (or none for plain causal attention)", nameof(keyStart));
        for (int b = 0, i = 0; b < B; b++)
            for (int t = 0; t < T; t++, i++)
            {
                int s = keyStart[i];
                if ((uint)s > (uint)t)
                    throw new ArgumentException($"keyStart[{i}] = {s} (sequence {b}, row {t}) must be in 0..{t}: a row attends to keys keyStart .. row, so its start can be neither negative nor after the row", nameof(keyStart));
            }
    }

    /// <summary>
    /// qkv is (B, T, (NH + 2·NKV)·HS), outp is (B, T, NH·HS), scratch is (<see cref="ScratchSize"/>) and receives the
    /// log-sum-exp rows; keyStart is (B·T) or empty. Effectively computes, per query head h and row t,
    /// outp = Σ_{j = keyStart .. t} softmax_j(q_t·k_j / sqrt(HS)) v_j with k, v from key/value head h / (NH/NKV).
    /// Parallel over (b, query head), each item packing its key/value head (B·NH work items: the repacking for a group's
    /// other heads costs HS·T moves against HS·T²/2 multiply-adds, and keeps GQA/MQA at full parallelism); each row is
    /// written by one thread, so results do not depend on the thread count.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> qkv, Span<float> outp, Span<float> scratch, ReadOnlySpan<int> keyStart,
                               int B, int T, int NH, int NKV, int HS)
        => Forward(qkv, outp, scratch, keyStart, B, T, NH, NKV, HS, GemmIsa.Auto);

    /// <summary>
    /// <see cref="Forward(ReadOnlySpan{float}, Span{float}, Span{float}, ReadOnlySpan{int}, int, int, int, int, int)"/> on a
    /// chosen instruction-set path (tests): Vector512 runs the four-row kernels when HS is a multiple of 16. The
    /// TensorPrimitives calls (row max, rescale, dot) keep their own dispatch.
    /// </summary>
    internal static void Forward(ReadOnlySpan<float> qkv, Span<float> outp, Span<float> scratch, ReadOnlySpan<int> keyStart,
                                 int B, int T, int NH, int NKV, int HS, GemmIsa isa)
    {
        CheckDimensions(B, T, NH, NKV, HS);
        if ((long)B * T == 0) return;
        long W = (long)(NH + 2 * NKV) * HS, C = (long)NH * HS;
        long N = (long)B * T;
        if (qkv.Length < N * W || outp.Length < N * C || scratch.Length < ScratchSize(B, T, NH))
            throw new ArgumentException($"attention buffers too small for B={B}, T={T}, NH={NH}, NKV={NKV}, HS={HS}: qkv needs {N * W} floats (has {qkv.Length}), outp {N * C} ({outp.Length}), scratch {ScratchSize(B, T, NH)} ({scratch.Length})");
        CheckKeyStart(keyStart, B, T);
        if (KernelCounters.Enabled) KernelCounters.AddAttentionForward(keyStart, B, T, NH, HS);
        fixed (float* pq = qkv, po = outp, pa = scratch)
        fixed (int* pk = keyStart)
        {
            var ctx = new Ctx { Qkv = pq, Out = po, Lse = pa, KeyStart = keyStart.IsEmpty ? null : pk, B = B, T = T, NH = NH, NKV = NKV, HS = HS, Scale = 1f / MathF.Sqrt(HS), Isa = isa.Resolve() };
            ParallelRows.For(B * NH, &ctx, &ForwardItem);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardItem(void* p, int bh)
    {
        ref var x = ref *(Ctx*)p;
        int T = x.T, HS = x.HS, NH = x.NH, NKV = x.NKV, W = (NH + 2 * NKV) * HS, C = NH * HS;
        int h = bh % NH, b = bh / NH, g = h / (NH / NKV);
        int ld = Pad16(T);
        if (x.Isa == GemmIsa.Vector512 && HS % 16 == 0) { ForwardHead4(ref x, b, h, g, ld); return; }
        float* pb = Buffer(HS * ld + KeyBlock);
        float* kt = pb, s = pb + (long)HS * ld;
        float* baseRow = x.Qkv + (long)b * T * W;
        int* ks = x.KeyStart == null ? null : x.KeyStart + (long)b * T;
        // Kᵀ of the whole head once per work item (the transpose costs HS·T moves against HS·T²/2 multiply-adds).
        PackTransposed(baseRow + (NH + g) * HS, W, T, HS, kt, ld);
        float* v0 = baseRow + (NH + NKV + g) * HS;
        for (int t = 0; t < T; t++)
        {
            float* q = baseRow + (long)t * W + h * HS;
            float* o = x.Out + ((long)b * T + t) * C + h * HS;
            new Span<float>(o, HS).Clear();
            float m = float.NegativeInfinity, l = 0f;
            // Key blocks from the row's own start: a start that is not a multiple of 16 makes RowTimesPacked read up to
            // 15 floats past a padded row of Kᵀ (into the next row, or s after the last); those scores are never used.
            int st = Start(ks, t);
            Debug.Assert((uint)st <= (uint)t);
            for (int k0 = st; k0 <= t; k0 += KeyBlock)
            {
                int n = Math.Min(KeyBlock, t + 1 - k0);
                RowTimesPacked(q, kt + k0, ld, HS, n, s, x.Isa);
                float mNew = Math.Max(m, TensorPrimitives.Max(new ReadOnlySpan<float>(s, n)) * x.Scale);
                float alpha = MathF.Exp(m - mNew); // 0 on the first block (m = -inf)
                if (k0 > st) TensorPrimitives.Multiply(new Span<float>(o, HS), alpha, new Span<float>(o, HS));
                l = l * alpha + VectorMath.ExpScaled(s, n, x.Scale, mNew, x.Isa);
                AxpyRows(s, 1, n, v0 + (long)k0 * W, W, HS, o, x.Isa);
                m = mNew;
            }
            TensorPrimitives.Multiply(new Span<float>(o, HS), 1f / l, new Span<float>(o, HS));
            x.Lse[((long)b * NH + h) * T + t] = m + MathF.Log(l);
        }
    }

    // The forward of one head, four query rows at a time: the four rows share every load of Kᵀ and of V (a head's
    // Kᵀ is 256 KB at T = 1024, so one row at a time would stream it from L2 per row). V is packed contiguous
    // (T, HS), which also spares the TLB the W-float row stride. Same arithmetic per row as the one-row path.
    // Rows of a group with different key starts (a document starting inside the group) run in separate passes, one per
    // start, so every row's key blocks begin at its own start.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardHead4(ref Ctx x, int b, int h, int g, int ld)
    {
        int T = x.T, HS = x.HS, NH = x.NH, NKV = x.NKV, W = (NH + 2 * NKV) * HS, C = NH * HS;
        float* pb = Buffer(HS * ld + T * HS + 4 * KeyBlock + 4 * HS);
        float* kt = pb, vp = kt + (long)HS * ld, S = vp + (long)T * HS, dummy = S + 4 * KeyBlock;
        float* baseRow = x.Qkv + (long)b * T * W;
        int* ks = x.KeyStart == null ? null : x.KeyStart + (long)b * T;
        PackTransposed(baseRow + (NH + g) * HS, W, T, HS, kt, ld);
        PackRows(baseRow + (NH + NKV + g) * HS, W, T, HS, vp);
        float* lse = x.Lse + ((long)b * NH + h) * T;
        float** q = stackalloc float*[4];
        float** o = stackalloc float*[4];
        float** sr = stackalloc float*[4];
        float* m = stackalloc float[4];
        float* l = stackalloc float[4];
        int* tr = stackalloc int[4];
        for (int t0 = 0; t0 < T; t0 += 4)
        {
            int R = Math.Min(4, T - t0);
            for (int pending = (1 << R) - 1; pending != 0;)
            {
                int first = BitOperations.TrailingZeroCount(pending), st = Start(ks, t0 + first), active = 0, last = t0 + first;
                for (int r = first; r < R; r++)
                    if ((pending >> r & 1) != 0 && Start(ks, t0 + r) == st) { active |= 1 << r; last = t0 + r; }
                pending &= ~active;
                for (int r = 0; r < 4; r++)
                {
                    // Rows outside this pass (missing past T, or of another start) repeat its first row and write to a dummy output.
                    bool on = (active >> r & 1) != 0;
                    tr[r] = on ? t0 + r : t0 + first;
                    q[r] = baseRow + (long)tr[r] * W + h * HS;
                    o[r] = on ? x.Out + ((long)b * T + tr[r]) * C + h * HS : dummy;
                    sr[r] = S + r * KeyBlock;
                    new Span<float>(o[r], HS).Clear();
                    m[r] = float.NegativeInfinity; l[r] = 0f;
                }
                // A start that is not a multiple of 16 makes RowTimesPacked4 read up to 15 floats past a padded row of
                // Kᵀ (into the next row, or into vp after the last); those scores are never used.
                for (int k0 = st; k0 <= last; k0 += KeyBlock)
                {
                    int n = Math.Min(KeyBlock, last + 1 - k0);
                    RowTimesPacked4(q, kt + k0, ld, HS, n, sr);
                    for (int r = 0; r < 4; r++)
                    {
                        int nr = Math.Min(n, tr[r] + 1 - k0);
                        float* s = sr[r];
                        if (nr <= 0) { new Span<float>(s, n).Clear(); continue; }
                        float mNew = Math.Max(m[r], TensorPrimitives.Max(new ReadOnlySpan<float>(s, nr)) * x.Scale);
                        float alpha = MathF.Exp(m[r] - mNew);
                        if (k0 > st) TensorPrimitives.Multiply(new Span<float>(o[r], HS), alpha, new Span<float>(o[r], HS));
                        l[r] = l[r] * alpha + VectorMath.ExpScaled(s, nr, x.Scale, mNew, x.Isa);
                        if (nr < n) new Span<float>(s + nr, n - nr).Clear(); // causal mask: p = 0
                        m[r] = mNew;
                    }
                    AxpyRows4(sr, 1, n, vp + (long)k0 * HS, HS, HS, o);
                }
                for (int r = 0; r < R; r++)
                {
                    if ((active >> r & 1) == 0) continue;
                    TensorPrimitives.Multiply(new Span<float>(o[r], HS), 1f / l[r], new Span<float>(o[r], HS));
                    lse[tr[r]] = m[r] + MathF.Log(l[r]);
                }
            }
        }
    }

    /// <summary>
    /// dout is (B, T, NH·HS); qkv, outp, scratch and keyStart as in <see cref="Forward(ReadOnlySpan{float}, Span{float}, Span{float}, ReadOnlySpan{int}, int, int, int, int, int)"/> (scratch as it left it);
    /// accumulates dqkv (B, T, (NH + 2·NKV)·HS). Parallel over (b, key/value head): dk and dv of a position receive
    /// contributions from every later query of every query head of its group, so a key/value head is owned by one
    /// thread, which runs the group's query heads in ascending order; every sum runs in a fixed order (bit-identical for
    /// any thread count).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> qkv, ReadOnlySpan<float> outp, ReadOnlySpan<float> scratch,
                                ReadOnlySpan<int> keyStart, Span<float> dqkv, int B, int T, int NH, int NKV, int HS)
        => Backward(dout, qkv, outp, scratch, keyStart, dqkv, B, T, NH, NKV, HS, GemmIsa.Auto);

    /// <summary>
    /// <see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{int}, Span{float}, int, int, int, int, int)"/>
    /// on a chosen instruction-set path (tests), as <see cref="Forward(ReadOnlySpan{float}, Span{float}, Span{float}, ReadOnlySpan{int}, int, int, int, int, int, GemmIsa)"/>.
    /// </summary>
    internal static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> qkv, ReadOnlySpan<float> outp, ReadOnlySpan<float> scratch,
                                  ReadOnlySpan<int> keyStart, Span<float> dqkv, int B, int T, int NH, int NKV, int HS, GemmIsa isa)
    {
        CheckDimensions(B, T, NH, NKV, HS);
        if ((long)B * T == 0) return;
        long W = (long)(NH + 2 * NKV) * HS, C = (long)NH * HS;
        long N = (long)B * T;
        if (dout.Length < N * C || qkv.Length < N * W || outp.Length < N * C
            || scratch.Length < ScratchSize(B, T, NH) || dqkv.Length < N * W)
            throw new ArgumentException($"attention backward buffers too small for B={B}, T={T}, NH={NH}, NKV={NKV}, HS={HS}: dout and outp need {N * C} floats (have {dout.Length}, {outp.Length}), qkv and dqkv {N * W} ({qkv.Length}, {dqkv.Length}), scratch {ScratchSize(B, T, NH)} ({scratch.Length})");
        CheckKeyStart(keyStart, B, T);
        if (KernelCounters.Enabled) KernelCounters.AddAttentionBackward(keyStart, B, T, NH, HS);
        fixed (float* pd = dout, pq = qkv, po = outp, pa = scratch, pdq = dqkv)
        fixed (int* pk = keyStart)
        {
            var ctx = new Ctx { DOut = pd, Qkv = pq, Out = po, Lse = pa, DQkv = pdq, KeyStart = keyStart.IsEmpty ? null : pk, B = B, T = T, NH = NH, NKV = NKV, HS = HS, Scale = 1f / MathF.Sqrt(HS), Isa = isa.Resolve() };
            ParallelRows.For(B * NKV, &ctx, &BackwardItem);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardItem(void* p, int bg)
    {
        ref var x = ref *(Ctx*)p;
        int T = x.T, HS = x.HS, NH = x.NH, NKV = x.NKV, W = (NH + 2 * NKV) * HS, C = NH * HS, G = NH / NKV;
        int g = bg % NKV, b = bg / NKV;
        int ld = Pad16(T);
        float scale = x.Scale;
        if (x.Isa == GemmIsa.Vector512 && HS % 16 == 0) { BackwardGroup4(ref x, b, g, ld); return; }
        // Kᵀ and Vᵀ (HS, ld) of the key/value head, then P and dS for one block of query rows (BackwardRows, ld).
        float* pb = Buffer(2 * HS * ld + 2 * BackwardRows * ld);
        float* kt = pb, vt = pb + (long)HS * ld, P = vt + (long)HS * ld, dS = P + (long)BackwardRows * ld;
        float* baseRow = x.Qkv + (long)b * T * W, dBase = x.DQkv + (long)b * T * W;
        float* k0 = baseRow + (NH + g) * HS, v0 = baseRow + (NH + NKV + g) * HS;
        float* dk0 = dBase + (NH + g) * HS, dv0 = dBase + (NH + NKV + g) * HS;
        int* ks = x.KeyStart == null ? null : x.KeyStart + (long)b * T;
        PackTransposed(k0, W, T, HS, kt, ld);
        PackTransposed(v0, W, T, HS, vt, ld);
        for (int h = g * G; h < (g + 1) * G; h++)
        {
            float* q0 = baseRow + h * HS, dq0 = dBase + h * HS;
            float* dO0 = x.DOut + (long)b * T * C + h * HS, o0 = x.Out + (long)b * T * C + h * HS;
            float* lse = x.Lse + ((long)b * NH + h) * T;
            for (int t0 = 0; t0 < T; t0 += BackwardRows)
            {
                int t1 = Math.Min(T, t0 + BackwardRows), kB = BlockStart(ks, t0, t1);
                for (int t = t0; t < t1; t++)
                {
                    int st = Start(ks, t), n = t + 1, r = t - t0;
                    float* q = q0 + (long)t * W, dO = dO0 + (long)t * C;
                    float* pr = P + (long)r * ld, dr = dS + (long)r * ld;
                    // P_tj = exp(s_tj - L_t) for j in st .. t (elementwise from st, as the forward's blocks ran)
                    RowTimesPacked(q, kt + kB, ld, HS, n - kB, pr + kB, x.Isa);
                    VectorMath.ExpScaled(pr + st, n - st, scale, lse[t], x.Isa);
                    // dP_tj = dO_t · v_j ; dS_tj = P_tj (dP_tj - D_t) / sqrt(HS)
                    RowTimesPacked(dO, vt + kB, ld, HS, n - kB, dr + kB, x.Isa);
                    float D = TensorPrimitives.Dot(new ReadOnlySpan<float>(dO, HS), new ReadOnlySpan<float>(o0 + (long)t * C, HS));
                    SoftmaxGradient(pr + st, dr + st, n - st, D, scale, x.Isa);
                    // Keys kB .. st-1 are outside the row's range: P = dS = 0 for the dK/dV sums below.
                    if (st > kB) { new Span<float>(pr + kB, st - kB).Clear(); new Span<float>(dr + kB, st - kB).Clear(); }
                    // dQ_t += Σ_j dS_tj k_j
                    AxpyRows(dr + st, 1, n - st, k0 + (long)st * W, W, HS, dq0 + (long)t * W, x.Isa);
                }
                // Key j receives from rows t ≥ j of this block: dV_j += Σ_t P_tj dO_t, dK_j += Σ_t dS_tj q_t.
                for (int j = kB; j < t1; j++)
                {
                    int r0 = Math.Max(0, j - t0), rows = t1 - t0 - r0;
                    AxpyRows(P + (long)r0 * ld + j, ld, rows, dO0 + (long)(t0 + r0) * C, C, HS, dv0 + (long)j * W, x.Isa);
                    AxpyRows(dS + (long)r0 * ld + j, ld, rows, q0 + (long)(t0 + r0) * W, W, HS, dk0 + (long)j * W, x.Isa);
                }
            }
        }
    }

    // The backward of one key/value head's group with the four-row kernels for P, dP and dQ (K packed contiguous for
    // dQ) and four keys at a time for dK and dV. Entries of a row outside its range (before its start, after the row,
    // up to the block's last key) are zeroed so the four rows, and the rows of a block, can share key ranges.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardGroup4(ref Ctx x, int b, int g, int ld)
    {
        int T = x.T, HS = x.HS, NH = x.NH, NKV = x.NKV, W = (NH + 2 * NKV) * HS, C = NH * HS, G = NH / NKV;
        float scale = x.Scale;
        const int rowsBuf = BackwardRows + 4;
        float* pb = Buffer(2 * HS * ld + T * HS + 2 * rowsBuf * ld + 2 * HS);
        float* kt = pb, vt = kt + (long)HS * ld, kp = vt + (long)HS * ld, P = kp + (long)T * HS, dS = P + (long)rowsBuf * ld;
        float* dummy = dS + (long)rowsBuf * ld, dummyKey = dummy + HS;
        float* baseRow = x.Qkv + (long)b * T * W, dBase = x.DQkv + (long)b * T * W;
        float* k0 = baseRow + (NH + g) * HS, v0 = baseRow + (NH + NKV + g) * HS;
        float* dk0 = dBase + (NH + g) * HS, dv0 = dBase + (NH + NKV + g) * HS;
        int* ks = x.KeyStart == null ? null : x.KeyStart + (long)b * T;
        PackTransposed(k0, W, T, HS, kt, ld);
        PackTransposed(v0, W, T, HS, vt, ld);
        PackRows(k0, W, T, HS, kp);
        new Span<float>(dummyKey, HS).Clear();
        float** q = stackalloc float*[4];
        float** dO = stackalloc float*[4];
        float** pr = stackalloc float*[4];
        float** dr = stackalloc float*[4];
        float** dq = stackalloc float*[4];
        int* tr = stackalloc int[4];
        float** pw = stackalloc float*[4];
        float** sw = stackalloc float*[4];
        float** dvj = stackalloc float*[4];
        float** dkj = stackalloc float*[4];
        for (int h = g * G; h < (g + 1) * G; h++)
        {
            float* q0 = baseRow + h * HS, dq0 = dBase + h * HS;
            float* dO0 = x.DOut + (long)b * T * C + h * HS, o0 = x.Out + (long)b * T * C + h * HS;
            float* lse = x.Lse + ((long)b * NH + h) * T;
            for (int t0 = 0; t0 < T; t0 += BackwardRows)
            {
                // Key columns kB .. t1-1 of P and dS (row t at P row t - t0) are valid for every row of the block.
                int t1 = Math.Min(T, t0 + BackwardRows), kB = BlockStart(ks, t0, t1);
                Debug.Assert(kB % 16 == 0 && kB <= t0);
                for (int gr = t0; gr < t1; gr += 4)
                {
                    int R = Math.Min(4, t1 - gr), last = gr + R - 1, n = last + 1;
                    for (int r = 0; r < 4; r++)
                    {
                        tr[r] = r < R ? gr + r : gr;
                        q[r] = q0 + (long)tr[r] * W;
                        dO[r] = dO0 + (long)tr[r] * C;
                        // Rows of the block live at P/dS row (t - t0); a missing row uses the spare rows past the block.
                        int row = r < R ? gr + r - t0 : BackwardRows + r;
                        pr[r] = P + (long)row * ld + kB;
                        dr[r] = dS + (long)row * ld + kB;
                        dq[r] = r < R ? dq0 + (long)tr[r] * W : dummy;
                    }
                    RowTimesPacked4(q, kt + kB, ld, HS, n - kB, pr);
                    RowTimesPacked4(dO, vt + kB, ld, HS, n - kB, dr);
                    for (int r = 0; r < 4; r++)
                    {
                        int t = tr[r], st = Start(ks, t), nr = t + 1 - st;
                        float* pa = pr[r] - kB, da = dr[r] - kB; // indexed by key
                        VectorMath.ExpScaled(pa + st, nr, scale, lse[t], x.Isa);                    // P_tj = exp(s_tj - L_t)
                        float D = TensorPrimitives.Dot(new ReadOnlySpan<float>(dO[r], HS), new ReadOnlySpan<float>(o0 + (long)t * C, HS));
                        SoftmaxGradient(pa + st, da + st, nr, D, scale, x.Isa);                     // dS_tj = P_tj (dP_tj - D_t) / sqrt(HS)
                        // Zero before the row's start and past the row up to the block's last key: dQ below shares the
                        // group's keys, and dK/dV below read four keys at once from every row of the block.
                        if (st > kB) { new Span<float>(pa + kB, st - kB).Clear(); new Span<float>(da + kB, st - kB).Clear(); }
                        int zero = t1 - (t + 1);
                        if (zero > 0) { new Span<float>(pa + t + 1, zero).Clear(); new Span<float>(da + t + 1, zero).Clear(); }
                    }
                    if (R < 4) new Span<float>(dummy, HS).Clear();
                    AxpyRows4(dr, 1, n - kB, kp + (long)kB * HS, HS, HS, dq);           // dQ_t += Σ_j dS_tj k_j
                }
                // Key j receives from rows t ≥ j of this block: dV_j += Σ_t P_tj dO_t, dK_j += Σ_t dS_tj q_t. Four keys
                // at a time share each load of a dO / q row; a row outside a key's range contributes P = dS = 0. Keys
                // past the block's last repeat key j into a dummy, so every key sums its rows in one chain, in
                // ascending order, whatever its place in the group (the same sums as for the document alone).
                for (int j = kB; j < t1; j += 4)
                {
                    int r0 = Math.Max(0, j - t0), rows = t1 - t0 - r0;
                    for (int k = 0; k < 4; k++)
                    {
                        bool on = j + k < t1;
                        int jk = on ? j + k : j;
                        pw[k] = P + (long)r0 * ld + jk; sw[k] = dS + (long)r0 * ld + jk;
                        dvj[k] = on ? dv0 + (long)jk * W : dummyKey; dkj[k] = on ? dk0 + (long)jk * W : dummyKey;
                    }
                    AxpyRows4(pw, ld, rows, dO0 + (long)(t0 + r0) * C, C, HS, dvj);
                    AxpyRows4(sw, ld, rows, q0 + (long)(t0 + r0) * W, W, HS, dkj);
                }
            }
        }
    }

    private struct DecodeCtx
    {
        public float* Q, K, V, Out;
        public int TN, Tk, NH, NKV, HS;
        public float Scale;
        public GemmIsa Isa; // resolved
    }

    /// <summary>
    /// Decode form for generation. q is (TN, NH·HS) for TN new positions whose keys/values are already written to
    /// keys/values (Tk, NKV·HS) at rows Tk-TN .. Tk-1; outp is (TN, NH·HS). New position i attends to rows 0 .. Tk-TN+i;
    /// query head h reads key/value head h / (NH/NKV). Parallel over (position, query head); scores live in a per-thread
    /// buffer, so a call allocates nothing.
    /// </summary>
    public static void Decode(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> outp,
                              int TN, int Tk, int NH, int NKV, int HS)
        => Decode(q, keys, values, outp, TN, Tk, NH, NKV, HS, GemmIsa.Auto);

    /// <summary><see cref="Decode(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, int, int, int, int)"/> on a chosen instruction-set path (tests).</summary>
    internal static void Decode(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> outp,
                                int TN, int Tk, int NH, int NKV, int HS, GemmIsa isa)
    {
        CheckDimensions(1, TN, NH, NKV, HS);
        if (TN == 0) return;
        long C = (long)NH * HS, KV = (long)NKV * HS;
        if (q.Length < TN * C || keys.Length < Tk * KV || values.Length < Tk * KV || outp.Length < TN * C || Tk < TN)
            throw new ArgumentException($"attention decode buffers too small for TN={TN}, Tk={Tk}, NH={NH}, NKV={NKV}, HS={HS}: q and outp need {TN * C} floats (have {q.Length}, {outp.Length}), keys and values {Tk * KV} ({keys.Length}, {values.Length}), and Tk ≥ TN");
        fixed (float* pq = q, pk = keys, pv = values, po = outp)
        {
            var ctx = new DecodeCtx { Q = pq, K = pk, V = pv, Out = po, TN = TN, Tk = Tk, NH = NH, NKV = NKV, HS = HS, Scale = 1f / MathF.Sqrt(HS), Isa = isa.Resolve() };
            ParallelRows.For(TN * NH, &ctx, &DecodeItem);
        }
    }

    private struct DecodeManyCtx
    {
        public float* Q, Out;
        public float** K, V;
        public int* Tk;
        public int Per, NH, NKV, HS;
        public float Scale;
        public GemmIsa Isa; // resolved
    }

    /// <summary>
    /// <see cref="Decode(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, int, int, int, int)"/>
    /// for many sequences in one parallel loop (batched decoding): sequence s has <paramref name="per"/> query rows at
    /// q + s·per·C, its keys and values at keys[s] / values[s] ((tk[s], NKV·HS) each, the last per rows new), its output at
    /// outp + s·per·C. Every (sequence, row, head) item runs exactly the single-sequence item, so results are the same bits.
    /// </summary>
    internal static void DecodeMany(float* q, float** keys, float** values, int* tk, float* outp, int sequences, int per, int NH, int NKV, int HS)
    {
        CheckDimensions(1, per, NH, NKV, HS);
        if (sequences == 0 || per == 0) return;
        for (int s = 0; s < sequences; s++)
            if (tk[s] < per) throw new ArgumentException($"sequence {s} has {tk[s]} cached positions, fewer than its {per} new rows");
        var ctx = new DecodeManyCtx { Q = q, Out = outp, K = keys, V = values, Tk = tk, Per = per, NH = NH, NKV = NKV, HS = HS, Scale = 1f / MathF.Sqrt(HS), Isa = GemmIsa.Auto.Resolve() };
        ParallelRows.For(sequences * per * NH, &ctx, &DecodeManyItem);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeManyItem(void* p, int idx)
    {
        ref var m = ref *(DecodeManyCtx*)p;
        int C = m.NH * m.HS, rowsPer = m.Per * m.NH, s = idx / rowsPer;
        var one = new DecodeCtx
        {
            Q = m.Q + (long)s * m.Per * C, K = m.K[s], V = m.V[s], Out = m.Out + (long)s * m.Per * C,
            TN = m.Per, Tk = m.Tk[s], NH = m.NH, NKV = m.NKV, HS = m.HS, Scale = m.Scale, Isa = m.Isa,
        };
        DecodeItem(&one, idx - s * rowsPer);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeItem(void* p, int idx)
    {
        ref var x = ref *(DecodeCtx*)p;
        int HS = x.HS, NH = x.NH, C = NH * HS, KV = x.NKV * HS, h = idx % NH, i = idx / NH, g = h / (NH / x.NKV);
        int n = x.Tk - x.TN + i + 1;
        float* s = Buffer(n);
        var qs = new ReadOnlySpan<float>(x.Q + (long)i * C + h * HS, HS);
        float* k = x.K + g * HS;
        for (int j = 0; j < n; j++) s[j] = TensorPrimitives.Dot(qs, new ReadOnlySpan<float>(k + (long)j * KV, HS));
        var ss = new Span<float>(s, n);
        float sum = VectorMath.ExpScaled(s, n, x.Scale, TensorPrimitives.Max(ss) * x.Scale, x.Isa);
        TensorPrimitives.Multiply(ss, 1f / sum, ss);
        float* o = x.Out + (long)i * C + h * HS;
        new Span<float>(o, HS).Clear();
        AxpyRows(s, 1, n, x.V + g * HS, KV, HS, o, x.Isa);
    }

    /// <summary>Softmax backward for one row: dp[j] = p[j] (dp[j] - D) · scale for j &lt; n (isa resolved; the same value on every path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void SoftmaxGradient(float* p, float* dp, int n, float D, float scale, GemmIsa isa)
    {
        int j = 0;
        if (isa == GemmIsa.Vector512)
        {
            var vd = Vector512.Create(D); var vs = Vector512.Create(scale);
            for (; j + 16 <= n; j += 16) (Vector512.Load(p + j) * (Vector512.Load(dp + j) - vd) * vs).Store(dp + j);
        }
        else if (isa == GemmIsa.Vector256)
        {
            var vd = Vector256.Create(D); var vs = Vector256.Create(scale);
            for (; j + 8 <= n; j += 8) (Vector256.Load(p + j) * (Vector256.Load(dp + j) - vd) * vs).Store(dp + j);
        }
        for (; j < n; j++) dp[j] = p[j] * (dp[j] - D) * scale;
    }

    // dst (D, ld) = src (n, D) transposed, where row j of src starts at src + j*stride; columns n .. ld-1 are zeroed
    // so the score kernels can run whole vectors past n.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTransposed(float* src, int stride, int n, int D, float* dst, int ld)
    {
        for (int j = 0; j < n; j++)
        {
            float* row = src + (long)j * stride;
            for (int d = 0; d < D; d++) dst[(long)d * ld + j] = row[d];
        }
        for (int d = 0; d < D; d++)
            for (int j = n; j < ld; j++) dst[(long)d * ld + j] = 0f;
    }

    // dst (n, D) = the n rows of D floats at src + j*stride, made contiguous.
    private static void PackRows(float* src, int stride, int n, int D, float* dst)
    {
        for (int j = 0; j < n; j++) new ReadOnlySpan<float>(src + (long)j * stride, D).CopyTo(new Span<float>(dst + (long)j * D, D));
    }

    /// <summary>
    /// Four rows of <see cref="RowTimesPacked"/> at once (Vector512 only): s[r][j] = Σ_d x[r][d] · pt[d*ld + j], each load
    /// of the panel feeding four rows (16 accumulators for 64 keys).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowTimesPacked4(float** x, float* pt, int ld, int D, int n, float** s)
    {
        float* x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        int np = (n + 15) & ~15, j = 0;
        for (; j + 64 <= np; j += 64)
        {
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
            float* c = pt + j;
            for (int d = 0; d < D; d++, c += ld)
            {
                var k0 = Vector512.Load(c); var k1 = Vector512.Load(c + 16); var k2 = Vector512.Load(c + 32); var k3 = Vector512.Load(c + 48);
                var b = Vector512.Create(x0[d]);
                a00 = Vector512.MultiplyAddEstimate(b, k0, a00); a01 = Vector512.MultiplyAddEstimate(b, k1, a01);
                a02 = Vector512.MultiplyAddEstimate(b, k2, a02); a03 = Vector512.MultiplyAddEstimate(b, k3, a03);
                b = Vector512.Create(x1[d]);
                a10 = Vector512.MultiplyAddEstimate(b, k0, a10); a11 = Vector512.MultiplyAddEstimate(b, k1, a11);
                a12 = Vector512.MultiplyAddEstimate(b, k2, a12); a13 = Vector512.MultiplyAddEstimate(b, k3, a13);
                b = Vector512.Create(x2[d]);
                a20 = Vector512.MultiplyAddEstimate(b, k0, a20); a21 = Vector512.MultiplyAddEstimate(b, k1, a21);
                a22 = Vector512.MultiplyAddEstimate(b, k2, a22); a23 = Vector512.MultiplyAddEstimate(b, k3, a23);
                b = Vector512.Create(x3[d]);
                a30 = Vector512.MultiplyAddEstimate(b, k0, a30); a31 = Vector512.MultiplyAddEstimate(b, k1, a31);
                a32 = Vector512.MultiplyAddEstimate(b, k2, a32); a33 = Vector512.MultiplyAddEstimate(b, k3, a33);
            }
            float* s0 = s[0] + j, s1 = s[1] + j, s2 = s[2] + j, s3 = s[3] + j;
            a00.Store(s0); a01.Store(s0 + 16); a02.Store(s0 + 32); a03.Store(s0 + 48);
            a10.Store(s1); a11.Store(s1 + 16); a12.Store(s1 + 32); a13.Store(s1 + 48);
            a20.Store(s2); a21.Store(s2 + 16); a22.Store(s2 + 32); a23.Store(s2 + 48);
            a30.Store(s3); a31.Store(s3 + 16); a32.Store(s3 + 32); a33.Store(s3 + 48);
        }
        for (; j < np; j += 16)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            float* c = pt + j;
            for (int d = 0; d < D; d++, c += ld)
            {
                var k = Vector512.Load(c);
                a0 = Vector512.MultiplyAddEstimate(Vector512.Create(x0[d]), k, a0);
                a1 = Vector512.MultiplyAddEstimate(Vector512.Create(x1[d]), k, a1);
                a2 = Vector512.MultiplyAddEstimate(Vector512.Create(x2[d]), k, a2);
                a3 = Vector512.MultiplyAddEstimate(Vector512.Create(x3[d]), k, a3);
            }
            a0.Store(s[0] + j); a1.Store(s[1] + j); a2.Store(s[2] + j); a3.Store(s[3] + j);
        }
    }

    /// <summary>
    /// Four rows of <see cref="AxpyRows"/> at once (Vector512, D a multiple of 16; 64 columns per pass where possible): o[r][c] += Σ_j w[r][j*wStride] · X[j*xStride + c],
    /// each row of X loaded once for the four outputs (16 accumulators).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AxpyRows4(float** w, long wStride, int n, float* X, long xStride, int D, float** o)
    {
        float* w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        int c = 0;
        for (; c + 64 <= D; c += 64)
        {
            float* o0 = o[0] + c, o1 = o[1] + c, o2 = o[2] + c, o3 = o[3] + c;
            var a00 = Vector512.Load(o0); var a01 = Vector512.Load(o0 + 16); var a02 = Vector512.Load(o0 + 32); var a03 = Vector512.Load(o0 + 48);
            var a10 = Vector512.Load(o1); var a11 = Vector512.Load(o1 + 16); var a12 = Vector512.Load(o1 + 32); var a13 = Vector512.Load(o1 + 48);
            var a20 = Vector512.Load(o2); var a21 = Vector512.Load(o2 + 16); var a22 = Vector512.Load(o2 + 32); var a23 = Vector512.Load(o2 + 48);
            var a30 = Vector512.Load(o3); var a31 = Vector512.Load(o3 + 16); var a32 = Vector512.Load(o3 + 32); var a33 = Vector512.Load(o3 + 48);
            float* r = X + c;
            for (int j = 0; j < n; j++, r += xStride)
            {
                var x0 = Vector512.Load(r); var x1 = Vector512.Load(r + 16); var x2 = Vector512.Load(r + 32); var x3 = Vector512.Load(r + 48);
                var b = Vector512.Create(w0[j * wStride]);
                a00 = Vector512.MultiplyAddEstimate(b, x0, a00); a01 = Vector512.MultiplyAddEstimate(b, x1, a01);
                a02 = Vector512.MultiplyAddEstimate(b, x2, a02); a03 = Vector512.MultiplyAddEstimate(b, x3, a03);
                b = Vector512.Create(w1[j * wStride]);
                a10 = Vector512.MultiplyAddEstimate(b, x0, a10); a11 = Vector512.MultiplyAddEstimate(b, x1, a11);
                a12 = Vector512.MultiplyAddEstimate(b, x2, a12); a13 = Vector512.MultiplyAddEstimate(b, x3, a13);
                b = Vector512.Create(w2[j * wStride]);
                a20 = Vector512.MultiplyAddEstimate(b, x0, a20); a21 = Vector512.MultiplyAddEstimate(b, x1, a21);
                a22 = Vector512.MultiplyAddEstimate(b, x2, a22); a23 = Vector512.MultiplyAddEstimate(b, x3, a23);
                b = Vector512.Create(w3[j * wStride]);
                a30 = Vector512.MultiplyAddEstimate(b, x0, a30); a31 = Vector512.MultiplyAddEstimate(b, x1, a31);
                a32 = Vector512.MultiplyAddEstimate(b, x2, a32); a33 = Vector512.MultiplyAddEstimate(b, x3, a33);
            }
            a00.Store(o0); a01.Store(o0 + 16); a02.Store(o0 + 32); a03.Store(o0 + 48);
            a10.Store(o1); a11.Store(o1 + 16); a12.Store(o1 + 32); a13.Store(o1 + 48);
            a20.Store(o2); a21.Store(o2 + 16); a22.Store(o2 + 32); a23.Store(o2 + 48);
            a30.Store(o3); a31.Store(o3 + 16); a32.Store(o3 + 32); a33.Store(o3 + 48);
        }
        // Head sizes that are a multiple of 16 but not of 64 (e.g. 32, 48): the rest 16 columns at a time.
        for (; c + 16 <= D; c += 16)
        {
            float* o0 = o[0] + c, o1 = o[1] + c, o2 = o[2] + c, o3 = o[3] + c;
            var a0 = Vector512.Load(o0); var a1 = Vector512.Load(o1); var a2 = Vector512.Load(o2); var a3 = Vector512.Load(o3);
            float* r = X + c;
            for (int j = 0; j < n; j++, r += xStride)
            {
                var xv = Vector512.Load(r);
                a0 = Vector512.MultiplyAddEstimate(Vector512.Create(w0[j * wStride]), xv, a0);
                a1 = Vector512.MultiplyAddEstimate(Vector512.Create(w1[j * wStride]), xv, a1);
                a2 = Vector512.MultiplyAddEstimate(Vector512.Create(w2[j * wStride]), xv, a2);
                a3 = Vector512.MultiplyAddEstimate(Vector512.Create(w3[j * wStride]), xv, a3);
            }
            a0.Store(o0); a1.Store(o1); a2.Store(o2); a3.Store(o3);
        }
    }

    /// <summary>
    /// s[j] = Σ_d x[d] · pt[d*ld + j] for j &lt; n (pt is a transposed, zero-padded panel; s may be written up to
    /// the next multiple of 16 past n). isa is resolved; every s[j] is one chain over d whatever its place j.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowTimesPacked(float* x, float* pt, int ld, int D, int n, float* s, GemmIsa isa)
    {
        int j = 0;
        if (isa == GemmIsa.Vector512)
        {
            int np = (n + 15) & ~15;
            // 8 independent accumulators hide the FMA latency (4 cycles × 2 ports).
            for (; j + 128 <= np; j += 128)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                float* c = pt + j;
                for (int d = 0; d < D; d++, c += ld)
                {
                    var xd = Vector512.Create(x[d]);
                    a0 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c), a0);
                    a1 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 16), a1);
                    a2 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 32), a2);
                    a3 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 48), a3);
                    a4 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 64), a4);
                    a5 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 80), a5);
                    a6 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 96), a6);
                    a7 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 112), a7);
                }
                a0.Store(s + j); a1.Store(s + j + 16); a2.Store(s + j + 32); a3.Store(s + j + 48);
                a4.Store(s + j + 64); a5.Store(s + j + 80); a6.Store(s + j + 96); a7.Store(s + j + 112);
            }
            for (; j + 64 <= np; j += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* c = pt + j;
                for (int d = 0; d < D; d++, c += ld)
                {
                    var xd = Vector512.Create(x[d]);
                    a0 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c), a0);
                    a1 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 16), a1);
                    a2 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 32), a2);
                    a3 = Vector512.MultiplyAddEstimate(xd, Vector512.Load(c + 48), a3);
                }
                a0.Store(s + j); a1.Store(s + j + 16); a2.Store(s + j + 32); a3.Store(s + j + 48);
            }
            for (; j < n; j += 16)
            {
                Vector512<float> a0 = default;
                float* c = pt + j;
                for (int d = 0; d < D; d++, c += ld) a0 = Vector512.MultiplyAddEstimate(Vector512.Create(x[d]), Vector512.Load(c), a0);
                a0.Store(s + j);
            }
        }
        else if (isa == GemmIsa.Vector256)
        {
            for (; j + 32 <= ((n + 7) & ~7); j += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* c = pt + j;
                for (int d = 0; d < D; d++, c += ld)
                {
                    var xd = Vector256.Create(x[d]);
                    a0 = Vector256.MultiplyAddEstimate(xd, Vector256.Load(c), a0);
                    a1 = Vector256.MultiplyAddEstimate(xd, Vector256.Load(c + 8), a1);
                    a2 = Vector256.MultiplyAddEstimate(xd, Vector256.Load(c + 16), a2);
                    a3 = Vector256.MultiplyAddEstimate(xd, Vector256.Load(c + 24), a3);
                }
                a0.Store(s + j); a1.Store(s + j + 8); a2.Store(s + j + 16); a3.Store(s + j + 24);
            }
            for (; j < n; j += 8)
            {
                Vector256<float> a0 = default;
                float* c = pt + j;
                for (int d = 0; d < D; d++, c += ld) a0 = Vector256.MultiplyAddEstimate(Vector256.Create(x[d]), Vector256.Load(c), a0);
                a0.Store(s + j);
            }
        }
        else
        {
            for (; j < n; j++)
            {
                float a = 0f;
                for (int d = 0; d < D; d++) a += x[d] * pt[(long)d * ld + j];
                s[j] = a;
            }
        }
    }

    /// <summary>o[c] += Σ_j w[j*wStride] · X[j*xStride + c] for c &lt; D, j &lt; n (accumulated in registers, j ascending; isa resolved).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void AxpyRows(float* w, long wStride, int n, float* X, long xStride, int D, float* o, GemmIsa isa)
    {
        if (n <= 0) return;
        int c = 0;
        if (isa == GemmIsa.Vector512)
        {
            for (; c + 64 <= D; c += 64)
            {
                // Even j into a*, odd j into b*: 8 independent FMA chains, summed at the end (fixed order).
                var a0 = Vector512.Load(o + c); var a1 = Vector512.Load(o + c + 16);
                var a2 = Vector512.Load(o + c + 32); var a3 = Vector512.Load(o + c + 48);
                Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
                float* r = X + c;
                int j = 0;
                for (; j + 2 <= n; j += 2, r += 2 * xStride)
                {
                    var wj = Vector512.Create(w[j * wStride]);
                    var wk = Vector512.Create(w[(j + 1) * wStride]);
                    float* r1 = r + xStride;
                    a0 = Vector512.MultiplyAddEstimate(wj, Vector512.Load(r), a0);
                    a1 = Vector512.MultiplyAddEstimate(wj, Vector512.Load(r + 16), a1);
                    a2 = Vector512.MultiplyAddEstimate(wj, Vector512.Load(r + 32), a2);
                    a3 = Vector512.MultiplyAddEstimate(wj, Vector512.Load(r + 48), a3);
                    b0 = Vector512.MultiplyAddEstimate(wk, Vector512.Load(r1), b0);
                    b1 = Vector512.MultiplyAddEstimate(wk, Vector512.Load(r1 + 16), b1);
                    b2 = Vector512.MultiplyAddEstimate(wk, Vector512.Load(r1 + 32), b2);
                    b3 = Vector512.MultiplyAddEstimate(wk, Vector512.Load(r1 + 48), b3);
                }
                if (j < n)
                {
                    var wj = Vector512.Create(w[j * wStride]);
                    a0 = Vector512.MultiplyAddEstimate(wj, Vector512.Load(r), a0);
                    a1 = Vector512.MultiplyAddEstimate(wj, Vector512.Load(r + 16), a1);
                    a2 = Vector512.MultiplyAddEstimate(wj, Vector512.Load(r + 32), a2);
                    a3 = Vector512.MultiplyAddEstimate(wj, Vector512.Load(r + 48), a3);
                }
                (a0 + b0).Store(o + c); (a1 + b1).Store(o + c + 16); (a2 + b2).Store(o + c + 32); (a3 + b3).Store(o + c + 48);
            }
            for (; c + 16 <= D; c += 16)
            {
                var a0 = Vector512.Load(o + c);
                float* r = X + c;
                for (int j = 0; j < n; j++, r += xStride) a0 = Vector512.MultiplyAddEstimate(Vector512.Create(w[j * wStride]), Vector512.Load(r), a0);
                a0.Store(o + c);
            }
        }
        // Vector512 leaves up to 15 columns (D not a multiple of 16), taken 8 at a time here as well.
        if (isa != GemmIsa.Scalar)
        {
            for (; c + 32 <= D; c += 32)
            {
                var a0 = Vector256.Load(o + c); var a1 = Vector256.Load(o + c + 8);
                var a2 = Vector256.Load(o + c + 16); var a3 = Vector256.Load(o + c + 24);
                float* r = X + c;
                for (int j = 0; j < n; j++, r += xStride)
                {
                    var wj = Vector256.Create(w[j * wStride]);
                    a0 = Vector256.MultiplyAddEstimate(wj, Vector256.Load(r), a0);
                    a1 = Vector256.MultiplyAddEstimate(wj, Vector256.Load(r + 8), a1);
                    a2 = Vector256.MultiplyAddEstimate(wj, Vector256.Load(r + 16), a2);
                    a3 = Vector256.MultiplyAddEstimate(wj, Vector256.Load(r + 24), a3);
                }
                a0.Store(o + c); a1.Store(o + c + 8); a2.Store(o + c + 16); a3.Store(o + c + 24);
            }
            for (; c + 8 <= D; c += 8)
            {
                var a0 = Vector256.Load(o + c);
                float* r = X + c;
                for (int j = 0; j < n; j++, r += xStride) a0 = Vector256.MultiplyAddEstimate(Vector256.Create(w[j * wStride]), Vector256.Load(r), a0);
                a0.Store(o + c);
            }
        }
        for (; c < D; c++)
        {
            float a = o[c];
            float* r = X + c;
            for (int j = 0; j < n; j++, r += xStride) a += w[j * wStride] * *r;
            o[c] = a;
        }
    }
}
