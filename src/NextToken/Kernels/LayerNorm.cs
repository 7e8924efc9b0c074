// LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension, forward and backward.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NextToken.Kernels;

/// <summary>
/// LayerNorm (Ba et al. 2016) over rows of length C. Rows are independent: parallel over blocks of rows, each row
/// vectorised (TensorPrimitives). The parameter gradients are sums over rows: parallel over blocks of columns, each
/// column summed over rows in order, so results do not depend on the thread count.
/// </summary>
public static unsafe class LayerNorm
{
    private const int RowsPerItem = 8, ColumnsPerItem = 64;

    [ThreadStatic] private static float[]? t_row;

    private struct Ctx
    {
        public float* Inp, Weight, Bias, Out, Mean, Rstd, Dout, Dinp, Dweight, Dbias;
        public int N, C;
        public float Eps;
    }

    /// <summary>
    /// inp is (N, C); weight and bias are (C) (bias may be empty); outp is (N, C); mean and rstd are (N) and are
    /// kept for backward.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> inp, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> outp,
                               Span<float> mean, Span<float> rstd, int N, int C, float eps)
    {
        if (N <= 0 || C <= 0) return;
        if (inp.Length < (long)N * C || outp.Length < (long)N * C || weight.Length < C || (!bias.IsEmpty && bias.Length < C) || mean.Length < N || rstd.Length < N)
            throw new ArgumentException($"LayerNorm buffers too small for N={N}, C={C}");
        fixed (float* pi = inp, pw = weight, pb = bias, po = outp, pm = mean, pr = rstd)
        {
            var ctx = new Ctx { Inp = pi, Weight = pw, Bias = bias.IsEmpty ? null : pb, Out = po, Mean = pm, Rstd = pr, N = N, C = C, Eps = eps };
            ParallelRows.For((N + RowsPerItem - 1) / RowsPerItem, &ctx, &ForwardRows);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRows(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        int C = c.C, end = Math.Min(c.N, (k + 1) * RowsPerItem);
        var w = new ReadOnlySpan<float>(c.Weight, C);
        for (int n = k * RowsPerItem; n < end; n++)
        {
            var x = new ReadOnlySpan<float>(c.Inp + (long)n * C, C);
            var y = new Span<float>(c.Out + (long)n * C, C);
            float m = TensorPrimitives.Sum(x) / C;
            TensorPrimitives.Subtract(x, m, y);                       // y = x - mean (two-pass variance: no cancellation)
            float s = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(y) / C + c.Eps);
            TensorPrimitives.Multiply(y, s, y);                       // xhat
            if (c.Bias is null) TensorPrimitives.Multiply(y, w, y);
            else TensorPrimitives.FusedMultiplyAdd(y, w, new ReadOnlySpan<float>(c.Bias, C), y);
            c.Mean[n] = m;
            c.Rstd[n] = s;
        }
    }

    /// <summary>
    /// dout, inp are (N, C); weight (C); mean, rstd (N) from forward. Accumulates dinp (N, C), dweight (C), dbias (C)
    /// (dbias may be empty). dweight may be empty for a frozen LayerNorm: then dbias must be empty too and the column
    /// pass is skipped entirely (no weight-gradient work). With xhat = (x - mean) * rstd and g = dout * weight:
    /// dinp = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> inp, ReadOnlySpan<float> weight,
                                ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
                                Span<float> dinp, Span<float> dweight, Span<float> dbias, int N, int C)
    {
        if (N <= 0 || C <= 0) return;
        if (dweight.IsEmpty && !dbias.IsEmpty)
            throw new ArgumentException("LayerNorm backward: dbias must be empty when dweight is (a frozen LayerNorm has no trainable bias either)");
        if (dout.Length < (long)N * C || inp.Length < (long)N * C || dinp.Length < (long)N * C || weight.Length < C
            || (!dweight.IsEmpty && dweight.Length < C) || (!dbias.IsEmpty && dbias.Length < C) || mean.Length < N || rstd.Length < N)
            throw new ArgumentException($"LayerNorm backward buffers too small for N={N}, C={C}");
        fixed (float* pd = dout, pi = inp, pw = weight, pm = mean, pr = rstd, pdi = dinp, pdw = dweight, pdb = dbias)
        {
            var ctx = new Ctx { Dout = pd, Inp = pi, Weight = pw, Mean = pm, Rstd = pr, Dinp = pdi, Dweight = dweight.IsEmpty ? null : pdw, Dbias = dbias.IsEmpty ? null : pdb, N = N, C = C };
            ParallelRows.For((N + RowsPerItem - 1) / RowsPerItem, &ctx, &BackwardRows);
            if (ctx.Dweight is not null) ParallelRows.For((C + ColumnsPerItem - 1) / ColumnsPerItem, &ctx, &BackwardColumns);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRows(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        int C = c.C, end = Math.Min(c.N, (k + 1) * RowsPerItem);
        var buf = t_row;
        if (buf is null || buf.Length < 2 * C) t_row = buf = new float[Math.Max(2 * C, 1024)];
        var xhat = buf.AsSpan(0, C);
        var g = buf.AsSpan(C, C);
        var w = new ReadOnlySpan<float>(c.Weight, C);
        for (int n = k * RowsPerItem; n < end; n++)
        {
            float m = c.Mean[n], s = c.Rstd[n];
            TensorPrimitives.Subtract(new ReadOnlySpan<float>(c.Inp + (long)n * C, C), m, xhat);
            TensorPrimitives.Multiply(xhat, s, xhat);
            TensorPrimitives.Multiply(new ReadOnlySpan<float>(c.Dout + (long)n * C, C), w, g);
            float gMean = TensorPrimitives.Sum(g) / C;
            float gxMean = TensorPrimitives.Dot(g, xhat) / C;
            TensorPrimitives.Subtract(g, gMean, g);
            TensorPrimitives.MultiplyAdd(xhat, -gxMean, g, g);       // g - mean(g) - xhat * mean(g xhat)
            var di = new Span<float>(c.Dinp + (long)n * C, C);
            TensorPrimitives.MultiplyAdd(g, s, di, di);
        }
    }

    // dweight[c] += Σ_n dout[n,c] xhat[n,c], dbias[c] += Σ_n dout[n,c], for one block of columns, rows in order.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardColumns(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        int C = c.C, N = c.N, c0 = k * ColumnsPerItem, c1 = Math.Min(C, c0 + ColumnsPerItem);
        int j = c0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + 16 <= c1; j += 16)
            {
                var aw = Vector512<float>.Zero; var ab = Vector512<float>.Zero;
                for (int n = 0; n < N; n++)
                {
                    var d = Vector512.Load(c.Dout + (long)n * C + j);
                    var xh = (Vector512.Load(c.Inp + (long)n * C + j) - Vector512.Create(c.Mean[n])) * Vector512.Create(c.Rstd[n]);
                    aw += d * xh;
                    ab += d;
                }
                (Vector512.Load(c.Dweight + j) + aw).Store(c.Dweight + j);
                if (c.Dbias is not null) (Vector512.Load(c.Dbias + j) + ab).Store(c.Dbias + j);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 8 <= c1; j += 8)
            {
                var aw = Vector256<float>.Zero; var ab = Vector256<float>.Zero;
                for (int n = 0; n < N; n++)
                {
                    var d = Vector256.Load(c.Dout + (long)n * C + j);
                    var xh = (Vector256.Load(c.Inp + (long)n * C + j) - Vector256.Create(c.Mean[n])) * Vector256.Create(c.Rstd[n]);
                    aw += d * xh;
                    ab += d;
                }
                (Vector256.Load(c.Dweight + j) + aw).Store(c.Dweight + j);
                if (c.Dbias is not null) (Vector256.Load(c.Dbias + j) + ab).Store(c.Dbias + j);
            }
        }
        for (; j < c1; j++)
        {
            float aw = 0f, ab = 0f;
            for (int n = 0; n < N; n++)
            {
                float d = c.Dout[(long)n * C + j];
                aw += d * (c.Inp[(long)n * C + j] - c.Mean[n]) * c.Rstd[n];
                ab += d;
            }
            c.Dweight[j] += aw;
            if (c.Dbias is not null) c.Dbias[j] += ab;
        }
    }
}
