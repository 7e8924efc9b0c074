// Gemm: the packed, cache-blocked, register-tiled, multithreaded fp32 matrix product behind Matmul, plus the GEMV
// path for a few rows (decoding). C (M,N) = [C or bias] + A (M,K) · B (K,N) with A and B given by strides.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NextToken.Kernels;

/// <summary>
/// C (M,N) = (accumulate ? C : bias row or 0) + A·B, where A(m,k) = a[m·aRowStride + k·aColStride] and
/// B(k,n) = b[k·bRowStride + n·bColStride]: the three products of a linear layer are this with different strides,
/// so no transpose is ever materialised (packing reads the strides).
/// <para>
/// Loop nest (Goto and van de Geijn's, as in BLIS): for each NC columns, for each KC slice of k, pack B (KC, NC)
/// into NR-wide k-major panels; for each MC rows pack A (MC, KC) into MR-tall panels; then every MR x NR tile runs
/// the micro-kernel over the KC slice with its accumulators in registers. The tile's starting value is C itself
/// (or the bias on the first slice), so each element is summed strictly in k order: the result is the same for
/// any blocking of M and N and any number of threads.
/// </para>
/// <para>
/// Blocking (Vector512) on this 2-core Xeon (48 KiB L1d, 2 MiB L2 per core), measured with <c>nexttoken bench gemm</c>
/// on one thread while other jobs shared the machine (±5% noise):
/// the 8x32 tile keeps 16 accumulators + 2 B vectors in the 32 zmm registers and issues 16 FMAs per 2 loads and
/// 8 broadcasts (the JIT emits exactly that loop, checked with DOTNET_JitDisasm), enough independent chains for two FMA ports;
/// on L2-resident operands (256³) it runs at 193 GFLOP/s, the core's FMA peak. 12x32 and 14x32 tiles measured the
/// same within the noise, so the smaller tile (cheaper edges, 8-row transposes) stays. KC = 256 keeps the B
/// micro-panel (256·32·4 B = 32 KiB) in L1 while the A panels stream from L2 (KC = 128 lost ~10%: C is reloaded
/// twice as often; 192..320 were equal); MC = 256 makes the A block 256 KiB and NC = 1024 the B block 1 MiB, both
/// resident in L2. Packing costs 4-5% of a 2048x768x2304 product since it reads whole source rows (packing one
/// panel at a time walked dout down its columns, a page per k, and cost 25% of the weight gradient).
/// Running k innermost for C blocks larger than L2 (C stays in L2, B is packed over all of k and re-read from L3)
/// was tried on the LM head (1024 x 768 x 50257): no gain for the forward or weight gradient, and 35% slower for
/// the input gradient (k = 50257 forces narrow B panels), so C is swept once per KC slice as above.
/// Vector256 uses a 6x16 tile (12 accumulators of the 16 ymm registers).
/// </para>
/// </summary>
internal static unsafe class Gemm
{
    /// <summary>Register tile and cache blocks of one ISA path.</summary>
    internal readonly record struct Blocking(int MR, int NR, int MC, int KC, int NC);

    /// <summary>Blocking used by <paramref name="isa"/> (resolved).</summary>
    internal static Blocking BlockingFor(GemmIsa isa) => isa switch
    {
        GemmIsa.Vector512 => new(GemmMicroKernels.Mr512, GemmMicroKernels.Nr512, 256, 256, 1024),
        GemmIsa.Vector256 => new(GemmMicroKernels.Mr256, GemmMicroKernels.Nr256, 252, 256, 1024),
        _ => new(GemmMicroKernels.MrScalar, GemmMicroKernels.NrScalar, 128, 256, 512),
    };

    /// <summary>Floats of the largest packed A block (MC·KC) of any path.</summary>
    internal const int MaxPackedA = 256 * 256;
    /// <summary>Floats of the largest packed B block (KC·NC) of any path.</summary>
    internal const int MaxPackedB = 256 * 1024;
    /// <summary>Floats of the largest register tile.</summary>
    internal const int MaxTile = 8 * 32;

    /// <summary>Below this many multiply-adds a product runs on the calling thread only (waking a helper costs more).</summary>
    internal const long SerialFmaThreshold = 1L << 20;
    // Row length from which the GEMV reads weight rows one at a time (see GemvTask).
    private const int LongRowGemv = 2048;

    /// <summary>Threads used when the caller does not say: the public setting <see cref="Threading.MaxThreads"/>.</summary>
    internal static int DefaultThreads => Threading.MaxThreads;

    internal enum Kind { Gemm, Gemv, ColumnSums }

    /// <summary>Everything a task needs; copied into the job, read by all participants.</summary>
    internal struct Problem
    {
        public Kind Kind;
        public float* A, B, C, Bias;
        public nint Ars, Acs, Brs, Bcs, Ldc;
        public int M, N, K;
        public bool Accumulate, SplitN;
        public GemmIsa Isa;
        public Blocking Blk;
        /// <summary>Columns (SplitN) or rows of C per task.</summary>
        public int Span;
    }

    /// <summary>
    /// C (M,N) = (accumulate ? C : bias or 0) + A·B. <paramref name="bias"/> is null or N floats. isa must be resolved.
    /// </summary>
    public static void Run(float* a, nint aRowStride, nint aColStride, float* b, nint bRowStride, nint bColStride,
                           float* c, nint ldc, float* bias, int M, int N, int K, bool accumulate, GemmIsa isa, int threads)
    {
        if (M == 0 || N == 0) return;
        if (K == 0)
        {
            if (!accumulate)
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < N; n++) c[m * ldc + n] = bias != null ? bias[n] : 0f;
            return;
        }
        var blk = BlockingFor(isa);
        var job = GemmJob.Current;
        ref var p = ref job.Problem;
        p = new Problem
        {
            Kind = Kind.Gemm, A = a, Ars = aRowStride, Acs = aColStride, B = b, Brs = bRowStride, Bcs = bColStride,
            C = c, Ldc = ldc, Bias = bias, M = M, N = N, K = K, Accumulate = accumulate, Isa = isa, Blk = blk,
        };
        if ((long)M * N * K < SerialFmaThreshold) threads = 1;
        // Tasks are column ranges (each packs its own B columns once, and A once per NC block) or row ranges (each
        // packs its own A rows once, and B once per task). Products with at least 1024 columns or rows per task get
        // up to 4 tasks per thread along that dimension, so a thread slowed by other work is balanced by the others
        // at almost no packing cost (A is repacked per NC block anyway; B once per 1024+ rows). Smaller products get
        // one task per thread: by columns when each gets at least 128, else by rows.
        int tasks = Math.Max(1, threads);
        int byN = Math.Min(N / 1024 / tasks, 4) * tasks, byM = Math.Min(M / 1024 / tasks, 4) * tasks;
        if (threads > 1 && Math.Max(byN, byM) > 0)
        {
            p.SplitN = byN >= byM;
            tasks = Math.Max(byN, byM);
        }
        else p.SplitN = N >= tasks * 128 || M < tasks * blk.MR * 4;
        int unit = p.SplitN ? blk.NR : blk.MR, extent = p.SplitN ? N : M;
        int units = (extent + unit - 1) / unit;
        p.Span = (units + tasks - 1) / tasks * unit;
        tasks = (extent + p.Span - 1) / p.Span;
        job.Run(tasks, threads);
    }

    /// <summary>Task t: one column (or row) range of C, the whole loop nest on this thread's packing buffers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RunTask(ref Problem p, int t)
    {
        if (p.Kind == Kind.Gemv) { GemvTask(ref p, t); return; }
        if (p.Kind == Kind.ColumnSums) { ColumnSumsTask(ref p, t); return; }
        int m0 = 0, m1 = p.M, n0 = 0, n1 = p.N;
        if (p.SplitN) { n0 = t * p.Span; n1 = Math.Min(p.N, n0 + p.Span); }
        else { m0 = t * p.Span; m1 = Math.Min(p.M, m0 + p.Span); }
        var s = GemmScratch.Current;
        var blk = p.Blk;
        int MR = blk.MR, NR = blk.NR;
        bool simd = p.Isa != GemmIsa.Scalar;
        for (int jc = n0; jc < n1; jc += blk.NC)
        {
            int nc = Math.Min(blk.NC, n1 - jc);
            for (int pc = 0; pc < p.K; pc += blk.KC)
            {
                int kc = Math.Min(blk.KC, p.K - pc);
                GemmPacking.Pack(p.B + pc * p.Brs + jc * p.Bcs, p.Bcs, p.Brs, nc, kc, NR, s.B, simd);
                bool loadC = p.Accumulate || pc > 0;
                float* init = !loadC && p.Bias != null ? p.Bias + jc : null;
                for (int ic = m0; ic < m1; ic += blk.MC)
                {
                    int mc = Math.Min(blk.MC, m1 - ic);
                    GemmPacking.Pack(p.A + ic * p.Ars + pc * p.Acs, p.Ars, p.Acs, mc, kc, MR, s.A, simd);
                    MacroKernel(ref p, s, kc, s.A, s.B, p.C + ic * p.Ldc + jc, mc, nc, init, loadC);
                }
            }
        }
    }

    // All MR x NR tiles of an (mc, nc) block of C from the packed blocks; edge tiles go through a padded copy.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MacroKernel(ref Problem p, GemmScratch s, int kc, float* pa, float* pb, float* c, int mc, int nc,
                                    float* init, bool loadC)
    {
        int MR = p.Blk.MR, NR = p.Blk.NR;
        nint ldc = p.Ldc;
        var isa = p.Isa;
        for (int jr = 0; jr < nc; jr += NR)
        {
            int nr = Math.Min(NR, nc - jr);
            float* pbp = pb + (nint)jr * kc;
            float* initj = init == null ? null : init + jr;
            if (initj != null && nr < NR)
            {
                for (int j = 0; j < NR; j++) s.Init[j] = j < nr ? initj[j] : 0f;
                initj = s.Init;
            }
            for (int ir = 0; ir < mc; ir += MR)
            {
                int mr = Math.Min(MR, mc - ir);
                float* pap = pa + (nint)ir * kc;
                float* cp = c + ir * ldc + jr;
                if (mr == MR && nr == NR)
                {
                    // C lives in L3 or memory between k slices (the whole C is swept once per KC), so the next tile's
                    // rows are fetched while this one computes. Its gain was below this shared machine's noise (±5%);
                    // it costs 16 instructions per 4096 FMAs.
                    if (Sse.IsSupported && ir + 2 * MR <= mc)
                    {
                        float* next = cp + MR * ldc;
                        for (int i = 0; i < MR; i++) { Sse.Prefetch0(next + i * ldc); Sse.Prefetch0(next + i * ldc + NR - 1); }
                    }
                    Kernel(isa, kc, pap, pbp, cp, ldc, initj, loadC);
                    continue;
                }
                float* tile = s.Tile;
                if (loadC)
                    for (int i = 0; i < mr; i++)
                        for (int j = 0; j < nr; j++) tile[i * NR + j] = cp[i * ldc + j];
                Kernel(isa, kc, pap, pbp, tile, NR, initj, loadC);
                for (int i = 0; i < mr; i++)
                    for (int j = 0; j < nr; j++) cp[i * ldc + j] = tile[i * NR + j];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(GemmIsa isa, int kc, float* pa, float* pb, float* c, nint ldc, float* init, bool loadC)
    {
        if (isa == GemmIsa.Vector512) GemmMicroKernels.Kernel512(kc, pa, pb, c, ldc, init, loadC);
        else if (isa == GemmIsa.Vector256) GemmMicroKernels.Kernel256(kc, pa, pb, c, ldc, init, loadC);
        else GemmMicroKernels.KernelScalar(kc, pa, pb, c, ldc, init, loadC);
    }

    /// <summary>
    /// sums (N) += column sums of a (M, N) row-major: each column summed in row order from 0, then added, so the
    /// result does not depend on the split; tasks are column ranges (bias gradients: memory-bound, both cores help).
    /// </summary>
    public static void ColumnSums(float* a, float* sums, int M, int N, int threads)
    {
        if (M == 0 || N == 0) return;
        var job = GemmJob.Current;
        ref var p = ref job.Problem;
        p = new Problem { Kind = Kind.ColumnSums, A = a, C = sums, M = M, N = N };
        if ((long)M * N < SerialFmaThreshold / 4) threads = 1;
        p.Span = ColumnBlock;
        job.Run((N + ColumnBlock - 1) / ColumnBlock, threads);
    }

    private const int ColumnBlock = 512;

    private static void ColumnSumsTask(ref Problem p, int t)
    {
        int o0 = t * ColumnBlock, w = Math.Min(ColumnBlock, p.N - o0);
        float* acc = stackalloc float[ColumnBlock];
        var sums = new Span<float>(acc, w);
        sums.Clear();
        for (int n = 0; n < p.M; n++)
            System.Numerics.Tensors.TensorPrimitives.Add(sums, new ReadOnlySpan<float>(p.A + (nint)n * p.N + o0, w), sums);
        var dst = new Span<float>(p.C + o0, w);
        System.Numerics.Tensors.TensorPrimitives.Add(dst, sums, dst);
    }

    /// <summary>
    /// Few-row product against (OC, C) weights, for decoding: outp (M, OC) = inp (M, C) · weight^T + bias, with the
    /// weights read once from memory: 4 weight rows at a time are dotted with every input row while they sit in
    /// L1, and tasks are contiguous ranges of output channels so the stream is sequential per thread.
    /// </summary>
    public static void Gemv(float* inp, float* weight, float* bias, float* outp, int M, int C, int OC, GemmIsa isa, int threads)
    {
        if (M == 0 || OC == 0) return;
        var job = GemmJob.Current;
        ref var p = ref job.Problem;
        p = new Problem { Kind = Kind.Gemv, A = inp, B = weight, C = outp, Bias = bias, M = M, N = OC, K = C, Isa = isa };
        if ((long)M * OC * C < SerialFmaThreshold) threads = 1;
        // Several chunks per thread so a thread slowed by other work does not hold up the step; multiples of 4 rows.
        int chunks = threads == 1 ? 1 : threads * 8;
        p.Span = ((OC + chunks - 1) / chunks + 3) & ~3;
        job.Run((OC + p.Span - 1) / p.Span, threads);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvTask(ref Problem p, int t)
    {
        int o0 = t * p.Span, o1 = Math.Min(p.N, o0 + p.Span), C = p.K, M = p.M;
        int o = o0;
        for (; o + 4 <= o1; o += 4)
        {
            float* w = p.B + (nint)o * C;
            int m0 = 0;
            if (C < LongRowGemv)
                for (; m0 + 4 <= M; m0 += 4)
                {
                    // Four input rows against the four weight rows: 16 dot products per pass, each summed exactly as Dot4 sums it.
                    float* y = p.C + (nint)m0 * p.N + o;
                    Dot4x4(p.Isa, p.A + (nint)m0 * C, w, C, y, p.N);
                    if (p.Bias != null)
                        for (int r = 0; r < 4; r++)
                            for (int j = 0; j < 4; j++) y[(nint)r * p.N + j] += p.Bias[o + j];
                }
            for (int m = m0; m < M; m++)
            {
                float* x = p.A + (nint)m * C;
                float* y = p.C + (nint)m * p.N + o;
                if (C >= LongRowGemv)
                {
                    // Long rows: one row at a time keeps the weight read a single sequential stream; four rows 4·C
                    // floats apart are four streams, which measured at 18 GB/s against 40+ for one (C = 3072, 2
                    // threads, weights not in cache). Same sums as Dot4 (one accumulator per row, in c order).
                    for (int j = 0; j < 4; j++) y[j] = Dot1(p.Isa, x, w + (nint)j * C, C);
                }
                else Dot4(p.Isa, x, w, C, y);
                if (p.Bias != null) for (int j = 0; j < 4; j++) y[j] += p.Bias[o + j];
            }
        }
        for (; o < o1; o++)
        {
            float* w = p.B + (nint)o * C;
            for (int m = 0; m < M; m++)
                p.C[(nint)m * p.N + o] = (p.Bias != null ? p.Bias[o] : 0f) + Dot1(p.Isa, p.A + (nint)m * C, w, C);
        }
    }

    // y[j] = x · w[j·C ..] for j < 4: four rows at once so each x vector is loaded once per four FMAs.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4(GemmIsa isa, float* x, float* w, int C, float* y)
    {
        float* w1 = w + C, w2 = w1 + C, w3 = w2 + C;
        int c = 0;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (isa == GemmIsa.Vector512)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; c + 16 <= C; c += 16)
            {
                var xv = Vector512.Load(x + c);
                a0 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(w + c), a0);
                a1 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(w1 + c), a1);
                a2 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(w2 + c), a2);
                a3 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(w3 + c), a3);
            }
            Sum4(Fold(a0), Fold(a1), Fold(a2), Fold(a3), out s0, out s1, out s2, out s3);
        }
        else if (isa == GemmIsa.Vector256)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; c + 8 <= C; c += 8)
            {
                var xv = Vector256.Load(x + c);
                a0 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w + c), a0);
                a1 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w1 + c), a1);
                a2 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w2 + c), a2);
                a3 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(w3 + c), a3);
            }
            Sum4(Fold(a0), Fold(a1), Fold(a2), Fold(a3), out s0, out s1, out s2, out s3);
        }
        for (; c < C; c++)
        {
            float xv = x[c];
            s0 += xv * w[c]; s1 += xv * w1[c]; s2 += xv * w2[c]; s3 += xv * w3[c];
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    }

    // y[r·ldy + j] = x[r·C ..] · w[j·C ..] for r, j < 4: each weight vector is loaded once for four input rows and each input
    // vector once for four weight rows (16 FMAs per 8 loads, against Dot4's 4 per 5). Every one of the 16 sums runs the
    // same operations in the same order as Dot4's, so a row's outputs do not depend on how many rows share the call.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4x4(GemmIsa isa, float* x, float* w, int C, float* y, int ldy)
    {
        float* x1 = x + C, x2 = x1 + C, x3 = x2 + C;
        float* w1 = w + C, w2 = w1 + C, w3 = w2 + C;
        int c = 0;
        float s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        float s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        if (isa == GemmIsa.Vector512)
        {
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
            for (; c + 16 <= C; c += 16)
            {
                var v0 = Vector512.Load(w + c); var v1 = Vector512.Load(w1 + c); var v2 = Vector512.Load(w2 + c); var v3 = Vector512.Load(w3 + c);
                var xv = Vector512.Load(x + c);
                a00 = Vector512.FusedMultiplyAdd(xv, v0, a00); a01 = Vector512.FusedMultiplyAdd(xv, v1, a01); a02 = Vector512.FusedMultiplyAdd(xv, v2, a02); a03 = Vector512.FusedMultiplyAdd(xv, v3, a03);
                xv = Vector512.Load(x1 + c);
                a10 = Vector512.FusedMultiplyAdd(xv, v0, a10); a11 = Vector512.FusedMultiplyAdd(xv, v1, a11); a12 = Vector512.FusedMultiplyAdd(xv, v2, a12); a13 = Vector512.FusedMultiplyAdd(xv, v3, a13);
                xv = Vector512.Load(x2 + c);
                a20 = Vector512.FusedMultiplyAdd(xv, v0, a20); a21 = Vector512.FusedMultiplyAdd(xv, v1, a21); a22 = Vector512.FusedMultiplyAdd(xv, v2, a22); a23 = Vector512.FusedMultiplyAdd(xv, v3, a23);
                xv = Vector512.Load(x3 + c);
                a30 = Vector512.FusedMultiplyAdd(xv, v0, a30); a31 = Vector512.FusedMultiplyAdd(xv, v1, a31); a32 = Vector512.FusedMultiplyAdd(xv, v2, a32); a33 = Vector512.FusedMultiplyAdd(xv, v3, a33);
            }
            Sum4(Fold(a00), Fold(a01), Fold(a02), Fold(a03), out s00, out s01, out s02, out s03);
            Sum4(Fold(a10), Fold(a11), Fold(a12), Fold(a13), out s10, out s11, out s12, out s13);
            Sum4(Fold(a20), Fold(a21), Fold(a22), Fold(a23), out s20, out s21, out s22, out s23);
            Sum4(Fold(a30), Fold(a31), Fold(a32), Fold(a33), out s30, out s31, out s32, out s33);
        }
        else if (isa == GemmIsa.Vector256)
        {
            Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
            Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
            for (; c + 8 <= C; c += 8)
            {
                var v0 = Vector256.Load(w + c); var v1 = Vector256.Load(w1 + c); var v2 = Vector256.Load(w2 + c); var v3 = Vector256.Load(w3 + c);
                var xv = Vector256.Load(x + c);
                a00 = Vector256.FusedMultiplyAdd(xv, v0, a00); a01 = Vector256.FusedMultiplyAdd(xv, v1, a01); a02 = Vector256.FusedMultiplyAdd(xv, v2, a02); a03 = Vector256.FusedMultiplyAdd(xv, v3, a03);
                xv = Vector256.Load(x1 + c);
                a10 = Vector256.FusedMultiplyAdd(xv, v0, a10); a11 = Vector256.FusedMultiplyAdd(xv, v1, a11); a12 = Vector256.FusedMultiplyAdd(xv, v2, a12); a13 = Vector256.FusedMultiplyAdd(xv, v3, a13);
                xv = Vector256.Load(x2 + c);
                a20 = Vector256.FusedMultiplyAdd(xv, v0, a20); a21 = Vector256.FusedMultiplyAdd(xv, v1, a21); a22 = Vector256.FusedMultiplyAdd(xv, v2, a22); a23 = Vector256.FusedMultiplyAdd(xv, v3, a23);
                xv = Vector256.Load(x3 + c);
                a30 = Vector256.FusedMultiplyAdd(xv, v0, a30); a31 = Vector256.FusedMultiplyAdd(xv, v1, a31); a32 = Vector256.FusedMultiplyAdd(xv, v2, a32); a33 = Vector256.FusedMultiplyAdd(xv, v3, a33);
            }
            Sum4(Fold(a00), Fold(a01), Fold(a02), Fold(a03), out s00, out s01, out s02, out s03);
            Sum4(Fold(a10), Fold(a11), Fold(a12), Fold(a13), out s10, out s11, out s12, out s13);
            Sum4(Fold(a20), Fold(a21), Fold(a22), Fold(a23), out s20, out s21, out s22, out s23);
            Sum4(Fold(a30), Fold(a31), Fold(a32), Fold(a33), out s30, out s31, out s32, out s33);
        }
        for (; c < C; c++)
        {
            float xv = x[c];
            s00 += xv * w[c]; s01 += xv * w1[c]; s02 += xv * w2[c]; s03 += xv * w3[c];
            xv = x1[c];
            s10 += xv * w[c]; s11 += xv * w1[c]; s12 += xv * w2[c]; s13 += xv * w3[c];
            xv = x2[c];
            s20 += xv * w[c]; s21 += xv * w1[c]; s22 += xv * w2[c]; s23 += xv * w3[c];
            xv = x3[c];
            s30 += xv * w[c]; s31 += xv * w1[c]; s32 += xv * w2[c]; s33 += xv * w3[c];
        }
        y[0] = s00; y[1] = s01; y[2] = s02; y[3] = s03;
        float* y1 = y + ldy; y1[0] = s10; y1[1] = s11; y1[2] = s12; y1[3] = s13;
        float* y2 = y1 + ldy; y2[0] = s20; y2[1] = s21; y2[2] = s22; y2[3] = s23;
        float* y3 = y2 + ldy; y3[0] = s30; y3[1] = s31; y3[2] = s32; y3[3] = s33;
    }

    // Horizontal sums of the GEMV's accumulators, in one fixed order whatever the path and however many sums are taken
    // together: halves added down to four lanes, then (v0 + v2) + (v1 + v3). Sum4 takes four at once with a 4 × 4
    // transpose (the same additions lane by lane), which is most of what made the few-row GEMV reduction-bound.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Fold(Vector512<float> v) => Fold(v.GetLower() + v.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Fold(Vector256<float> v) => v.GetLower() + v.GetUpper();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector128<float> v) => (v.GetElement(0) + v.GetElement(2)) + (v.GetElement(1) + v.GetElement(3));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sum4(Vector128<float> a0, Vector128<float> a1, Vector128<float> a2, Vector128<float> a3,
                             out float s0, out float s1, out float s2, out float s3)
    {
        if (Sse.IsSupported)
        {
            Vector128<float> u0 = Sse.UnpackLow(a0, a1), h0 = Sse.UnpackHigh(a0, a1), u2 = Sse.UnpackLow(a2, a3), h2 = Sse.UnpackHigh(a2, a3);
            var t0 = Sse.MoveLowToHigh(u0, u2); // (a0[0], a1[0], a2[0], a3[0])
            var t1 = Sse.MoveHighToLow(u2, u0); // (a0[1], a1[1], a2[1], a3[1])
            var t2 = Sse.MoveLowToHigh(h0, h2); // lanes [2]
            var t3 = Sse.MoveHighToLow(h2, h0); // lanes [3]
            var r = (t0 + t2) + (t1 + t3);
            s0 = r.GetElement(0); s1 = r.GetElement(1); s2 = r.GetElement(2); s3 = r.GetElement(3);
        }
        else { s0 = Sum(a0); s1 = Sum(a1); s2 = Sum(a2); s3 = Sum(a3); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot1(GemmIsa isa, float* x, float* w, int C)
    {
        int c = 0;
        float s = 0;
        if (isa == GemmIsa.Vector512)
        {
            Vector512<float> a = default;
            for (; c + 16 <= C; c += 16) a = Vector512.FusedMultiplyAdd(Vector512.Load(x + c), Vector512.Load(w + c), a);
            s = Sum(Fold(a));
        }
        else if (isa == GemmIsa.Vector256)
        {
            Vector256<float> a = default;
            for (; c + 8 <= C; c += 8) a = Vector256.FusedMultiplyAdd(Vector256.Load(x + c), Vector256.Load(w + c), a);
            s = Sum(Fold(a));
        }
        for (; c < C; c++) s += x[c] * w[c];
        return s;
    }
}
