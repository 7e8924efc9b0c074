// RmsNorm: y = x · rstd · weight with rstd = 1/sqrt(mean(x²) + eps) over the last dimension, forward and backward.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NextToken.Kernels;

/// <summary>
/// RMSNorm (Zhang and Sennrich 2019; the LLaMA family's norm): no mean subtraction and no bias. Rows are independent:
/// parallel over blocks of rows, each row vectorised (Vector512, Vector256, scalar tail). The gain gradient is a sum
/// over rows: parallel over blocks of columns, each column summed over rows in order, so results do not depend on the
/// thread count.
/// </summary>
public static unsafe class RmsNorm
{
    private const int RowsPerItem = 8, ColumnsPerItem = 64;

    private struct Ctx
    {
        public float* Inp, Weight, Out, Rstd, Dout, Dinp, Dweight;
        public int N, C;
        public float Eps;
        public GemmIsa Isa;
    }

    /// <summary>
    /// inp is (N, C), weight is (C), outp is (N, C), rstd is (N) and is kept for backward.
    /// Effectively computes outp[n, c] = inp[n, c] · rstd[n] · weight[c] with rstd[n] = 1/sqrt(mean_c(inp[n, c]²) + eps).
    /// </summary>
    public static void Forward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, Span<float> outp, Span<float> rstd, int N, int C, float eps)
        => Forward(inp, weight, outp, rstd, N, C, eps, GemmIsa.Auto);

    /// <summary><see cref="Forward(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, int, int, float)"/> on a chosen instruction-set path (tests).</summary>
    internal static void Forward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, Span<float> outp, Span<float> rstd, int N, int C, float eps, GemmIsa isa)
    {
        if (N <= 0 || C <= 0) return;
        if (inp.Length < (long)N * C || outp.Length < (long)N * C || weight.Length < C || rstd.Length < N)
            throw new ArgumentException($"RMSNorm buffers too small for N={N}, C={C}: need inp and outp {(long)N * C}, weight {C}, rstd {N} floats");
        isa = isa.Resolve();
        fixed (float* pi = inp, pw = weight, po = outp, pr = rstd)
        {
            var ctx = new Ctx { Inp = pi, Weight = pw, Out = po, Rstd = pr, N = N, C = C, Eps = eps, Isa = isa };
            ParallelRows.For((N + RowsPerItem - 1) / RowsPerItem, &ctx, &ForwardRows);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRows(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        int C = c.C, end = Math.Min(c.N, (k + 1) * RowsPerItem);
        float* w = c.Weight;
        for (int n = k * RowsPerItem; n < end; n++)
        {
            float* x = c.Inp + (long)n * C, y = c.Out + (long)n * C;
            float s = 1f / MathF.Sqrt(SumOfSquares(x, C, c.Isa) / C + c.Eps);
            int j = 0;
            if (c.Isa == GemmIsa.Vector512)
            {
                var vs = Vector512.Create(s);
                for (; j + 16 <= C; j += 16) (Vector512.Load(x + j) * vs * Vector512.Load(w + j)).Store(y + j);
            }
            else if (c.Isa == GemmIsa.Vector256)
            {
                var vs = Vector256.Create(s);
                for (; j + 8 <= C; j += 8) (Vector256.Load(x + j) * vs * Vector256.Load(w + j)).Store(y + j);
            }
            for (; j < C; j++) y[j] = x[j] * s * w[j];
            c.Rstd[n] = s;
        }
    }

    // Σ_j x[j]² (one accumulator per lane, lanes summed at the end, then the tail in order).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumOfSquares(float* x, int C, GemmIsa isa)
    {
        int j = 0;
        float sum = 0f;
        if (isa == GemmIsa.Vector512)
        {
            var acc = Vector512<float>.Zero;
            for (; j + 16 <= C; j += 16) { var v = Vector512.Load(x + j); acc += v * v; }
            sum = Vector512.Sum(acc);
        }
        else if (isa == GemmIsa.Vector256)
        {
            var acc = Vector256<float>.Zero;
            for (; j + 8 <= C; j += 8) { var v = Vector256.Load(x + j); acc += v * v; }
            sum = Vector256.Sum(acc);
        }
        for (; j < C; j++) sum += x[j] * x[j];
        return sum;
    }

    /// <summary>
    /// dout, inp are (N, C); weight (C); rstd (N) from forward. Accumulates dinp (N, C) and dweight (C); dweight may be
    /// empty (a frozen gain): then the column pass is skipped entirely. With r = rstd[n] and g = dout · weight:
    /// dinp = r·g − x · r³ · mean(g · x), dweight[c] += Σ_n dout[n, c] · x[n, c] · r[n].
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd,
                                Span<float> dinp, Span<float> dweight, int N, int C)
        => Backward(dout, inp, weight, rstd, dinp, dweight, N, C, GemmIsa.Auto);

    /// <summary><see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, Span{float}, int, int)"/> on a chosen instruction-set path (tests).</summary>
    internal static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd,
                                  Span<float> dinp, Span<float> dweight, int N, int C, GemmIsa isa)
    {
        if (N <= 0 || C <= 0) return;
        if (dout.Length < (long)N * C || inp.Length < (long)N * C || dinp.Length < (long)N * C || weight.Length < C
            || (!dweight.IsEmpty && dweight.Length < C) || rstd.Length < N)
            throw new ArgumentException($"RMSNorm backward buffers too small for N={N}, C={C}: need dout, inp and dinp {(long)N * C}, weight {C}, dweight 0 or {C}, rstd {N} floats");
        isa = isa.Resolve();
        fixed (float* pd = dout, pi = inp, pw = weight, pr = rstd, pdi = dinp, pdw = dweight)
        {
            var ctx = new Ctx { Dout = pd, Inp = pi, Weight = pw, Rstd = pr, Dinp = pdi, Dweight = dweight.IsEmpty ? null : pdw, N = N, C = C, Isa = isa };
            ParallelRows.For((N + RowsPerItem - 1) / RowsPerItem, &ctx, &BackwardRows);
            if (ctx.Dweight is not null) ParallelRows.For((C + ColumnsPerItem - 1) / ColumnsPerItem, &ctx, &BackwardColumns);
        }
    }

    // y = x r w with r = (Σx²/C + eps)^(-1/2), so ∂r/∂x_j = −r³ x_j / C and
    // dx_j = r g_j − x_j r³ (Σ_i g_i x_i) / C with g = dout ∘ w: one pass for the dot product, one to accumulate.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRows(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        int C = c.C, end = Math.Min(c.N, (k + 1) * RowsPerItem);
        float* w = c.Weight;
        for (int n = k * RowsPerItem; n < end; n++)
        {
            float* x = c.Inp + (long)n * C, d = c.Dout + (long)n * C, dx = c.Dinp + (long)n * C;
            float r = c.Rstd[n];
            float dot = Dot3(d, w, x, C, c.Isa);
            float a = r, b = r * r * r * dot / C;
            int j = 0;
            if (c.Isa == GemmIsa.Vector512)
            {
                var va = Vector512.Create(a); var vb = Vector512.Create(b);
                for (; j + 16 <= C; j += 16)
                    (Vector512.Load(dx + j) + (va * Vector512.Load(d + j) * Vector512.Load(w + j) - vb * Vector512.Load(x + j))).Store(dx + j);
            }
            else if (c.Isa == GemmIsa.Vector256)
            {
                var va = Vector256.Create(a); var vb = Vector256.Create(b);
                for (; j + 8 <= C; j += 8)
                    (Vector256.Load(dx + j) + (va * Vector256.Load(d + j) * Vector256.Load(w + j) - vb * Vector256.Load(x + j))).Store(dx + j);
            }
            for (; j < C; j++) dx[j] += a * d[j] * w[j] - b * x[j];
        }
    }

    // Σ_j d[j]·w[j]·x[j].
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot3(float* d, float* w, float* x, int C, GemmIsa isa)
    {
        int j = 0;
        float sum = 0f;
        if (isa == GemmIsa.Vector512)
        {
            var acc = Vector512<float>.Zero;
            for (; j + 16 <= C; j += 16) acc += Vector512.Load(d + j) * Vector512.Load(w + j) * Vector512.Load(x + j);
            sum = Vector512.Sum(acc);
        }
        else if (isa == GemmIsa.Vector256)
        {
            var acc = Vector256<float>.Zero;
            for (; j + 8 <= C; j += 8) acc += Vector256.Load(d + j) * Vector256.Load(w + j) * Vector256.Load(x + j);
            sum = Vector256.Sum(acc);
        }
        for (; j < C; j++) sum += d[j] * w[j] * x[j];
        return sum;
    }

    // dweight[c] += Σ_n dout[n,c] · x[n,c] · r[n] for one block of columns, rows in order (the same sum on every path).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardColumns(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        Debug.Assert(c.Dweight is not null);
        int C = c.C, N = c.N, c0 = k * ColumnsPerItem, c1 = Math.Min(C, c0 + ColumnsPerItem);
        int j = c0;
        if (c.Isa == GemmIsa.Vector512)
        {
            for (; j + 16 <= c1; j += 16)
            {
                var acc = Vector512<float>.Zero;
                for (int n = 0; n < N; n++)
                    acc += Vector512.Load(c.Dout + (long)n * C + j) * (Vector512.Load(c.Inp + (long)n * C + j) * Vector512.Create(c.Rstd[n]));
                (Vector512.Load(c.Dweight + j) + acc).Store(c.Dweight + j);
            }
        }
        else if (c.Isa == GemmIsa.Vector256)
        {
            for (; j + 8 <= c1; j += 8)
            {
                var acc = Vector256<float>.Zero;
                for (int n = 0; n < N; n++)
                    acc += Vector256.Load(c.Dout + (long)n * C + j) * (Vector256.Load(c.Inp + (long)n * C + j) * Vector256.Create(c.Rstd[n]));
                (Vector256.Load(c.Dweight + j) + acc).Store(c.Dweight + j);
            }
        }
        for (; j < c1; j++)
        {
            float acc = 0f;
            for (int n = 0; n < N; n++) acc += c.Dout[(long)n * C + j] * (c.Inp[(long)n * C + j] * c.Rstd[n]);
            c.Dweight[j] += acc;
        }
    }
}
