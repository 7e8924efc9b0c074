// SwiGlu: the gated MLP activation SiLU(gate) · up of the LLaMA family, forward and backward (parallel over row blocks).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NextToken.Kernels;

/// <summary>
/// SwiGLU (Shazeer 2020, "GLU Variants Improve Transformer", eq. 6 with β = 1): out = SiLU(gate) ∘ up with
/// SiLU(x) = x·σ(x). The input is the fused c_fc output: each row of 2F holds the F gate columns, then the F up columns.
/// Element-wise, so the results do not depend on the thread count.
/// </summary>
public static unsafe class SwiGlu
{
    // Output elements per work item (as Gelu's chunk): whole rows, at least one.
    private const int Chunk = 16384;
    // σ(x) = 1 / (1 + exp(−x)) with −x capped at 80: exp(80) ≈ 5.5e34 keeps 1 + e finite and σ a normal float
    // (1.8e-35), so x·σ(x) and σ'(x) stay finite down to x = −1e4 and beyond (SiLU(−80) ≈ −1.4e-33, absolute error
    // past the cap below |x|·1.8e-35). Large positive x gives exp(−x) = 0 (FastExp flushes below −87), so σ = 1 exactly.
    private const float ExpCap = 80f;

    private struct Ctx
    {
        public float* Inp, Dout, Out;
        public int N, F, RowsPerItem;
        public GemmIsa Isa;
    }

    /// <summary>
    /// inp is (N, 2F): gate = columns 0..F-1, up = columns F..2F-1 of each row; outp is (N, F).
    /// Effectively computes outp[n, j] = SiLU(inp[n, j]) · inp[n, F + j].
    /// </summary>
    public static void Forward(ReadOnlySpan<float> inp, Span<float> outp, int N, int F) => Forward(inp, outp, N, F, GemmIsa.Auto);

    /// <summary><see cref="Forward(ReadOnlySpan{float}, Span{float}, int, int)"/> on a chosen instruction-set path (tests).</summary>
    internal static void Forward(ReadOnlySpan<float> inp, Span<float> outp, int N, int F, GemmIsa isa)
    {
        if (N <= 0 || F <= 0) return;
        if (inp.Length < 2L * N * F || outp.Length < (long)N * F)
            throw new ArgumentException($"SwiGLU buffers too small for N={N}, F={F}: need inp {2L * N * F}, outp {(long)N * F} floats");
        isa = isa.Resolve();
        fixed (float* pi = inp, po = outp)
        {
            int rows = Math.Max(1, Chunk / F);
            var ctx = new Ctx { Inp = pi, Out = po, N = N, F = F, RowsPerItem = rows, Isa = isa };
            ParallelRows.For((N + rows - 1) / rows, &ctx, &ForwardRows);
        }
    }

    /// <summary>
    /// inp is (N, 2F) as in forward, dout is (N, F). Accumulates dinp (N, 2F): with s = σ(gate),
    /// dgate += dout · up · s · (1 + gate · (1 − s)) and dup += dout · gate · s.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> inp, ReadOnlySpan<float> dout, Span<float> dinp, int N, int F)
        => Backward(inp, dout, dinp, N, F, GemmIsa.Auto);

    /// <summary><see cref="Backward(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, int)"/> on a chosen instruction-set path (tests).</summary>
    internal static void Backward(ReadOnlySpan<float> inp, ReadOnlySpan<float> dout, Span<float> dinp, int N, int F, GemmIsa isa)
    {
        if (N <= 0 || F <= 0) return;
        if (inp.Length < 2L * N * F || dout.Length < (long)N * F || dinp.Length < 2L * N * F)
            throw new ArgumentException($"SwiGLU backward buffers too small for N={N}, F={F}: need inp and dinp {2L * N * F}, dout {(long)N * F} floats");
        isa = isa.Resolve();
        fixed (float* pi = inp, pd = dout, pdi = dinp)
        {
            int rows = Math.Max(1, Chunk / F);
            var ctx = new Ctx { Inp = pi, Dout = pd, Out = pdi, N = N, F = F, RowsPerItem = rows, Isa = isa };
            ParallelRows.For((N + rows - 1) / rows, &ctx, &BackwardRows);
        }
    }

    // σ(x) with VectorMath's polynomial exp (.NET 10's Vector512.Exp measured 4.8× slower; see Gelu).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sigmoid(Vector512<float> x) =>
        Vector512<float>.One / (Vector512<float>.One + VectorMath.FastExp(Vector512.Min(-x, Vector512.Create(ExpCap))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sigmoid(Vector256<float> x) =>
        Vector256<float>.One / (Vector256<float>.One + VectorMath.FastExp(Vector256.Min(-x, Vector256.Create(ExpCap))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sigmoid(float x) => 1f / (1f + MathF.Exp(MathF.Min(-x, ExpCap)));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardRows(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        int F = c.F, end = Math.Min(c.N, (k + 1) * c.RowsPerItem);
        for (int n = k * c.RowsPerItem; n < end; n++)
        {
            float* g = c.Inp + 2L * n * F, u = g + F, y = c.Out + (long)n * F;
            int j = 0;
            if (c.Isa == GemmIsa.Vector512)
                for (; j + 16 <= F; j += 16)
                {
                    var vg = Vector512.Load(g + j);
                    (vg * Sigmoid(vg) * Vector512.Load(u + j)).Store(y + j);
                }
            else if (c.Isa == GemmIsa.Vector256)
                for (; j + 8 <= F; j += 8)
                {
                    var vg = Vector256.Load(g + j);
                    (vg * Sigmoid(vg) * Vector256.Load(u + j)).Store(y + j);
                }
            for (; j < F; j++) y[j] = g[j] * Sigmoid(g[j]) * u[j];
        }
    }

    // d SiLU(x)/dx = σ(x) + x σ(x)(1 − σ(x)) = σ(x)(1 + x(1 − σ(x))).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardRows(void* p, int k)
    {
        ref var c = ref *(Ctx*)p;
        int F = c.F, end = Math.Min(c.N, (k + 1) * c.RowsPerItem);
        for (int n = k * c.RowsPerItem; n < end; n++)
        {
            float* g = c.Inp + 2L * n * F, u = g + F, d = c.Dout + (long)n * F, dg = c.Out + 2L * n * F, du = dg + F;
            int j = 0;
            if (c.Isa == GemmIsa.Vector512)
            {
                var one = Vector512<float>.One;
                for (; j + 16 <= F; j += 16)
                {
                    var vg = Vector512.Load(g + j); var vd = Vector512.Load(d + j);
                    var s = Sigmoid(vg);
                    (Vector512.Load(dg + j) + vd * Vector512.Load(u + j) * s * (one + vg * (one - s))).Store(dg + j);
                    (Vector512.Load(du + j) + vd * vg * s).Store(du + j);
                }
            }
            else if (c.Isa == GemmIsa.Vector256)
            {
                var one = Vector256<float>.One;
                for (; j + 8 <= F; j += 8)
                {
                    var vg = Vector256.Load(g + j); var vd = Vector256.Load(d + j);
                    var s = Sigmoid(vg);
                    (Vector256.Load(dg + j) + vd * Vector256.Load(u + j) * s * (one + vg * (one - s))).Store(dg + j);
                    (Vector256.Load(du + j) + vd * vg * s).Store(du + j);
                }
            }
            for (; j < F; j++)
            {
                float x = g[j], s = Sigmoid(x);
                dg[j] += d[j] * u[j] * s * (1f + x * (1f - s));
                du[j] += d[j] * x * s;
            }
        }
    }
}
