// RMSNorm and SwiGLU kernels on every instruction-set path against double references (forward) and central finite
// differences of those references in double (backward, every element), over sizes straddling the vector widths; the
// frozen-gain (empty dweight) paths of RMSNorm and LayerNorm; SiLU saturation out to |x| = 1e4.
using System.Runtime.Intrinsics;
using NextToken.Kernels;
using NextToken.Tensors;
using static NextToken.Tests.Reference.ReferenceGpt;

namespace NextToken.Tests.Kernels;

public sealed class NormKernelTests
{
    private static readonly int[] Sizes = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 257];
    private static readonly int[] Rows = [1, 3, 9];
    private const float Eps = 1e-5f;

    // Every path this machine accelerates, forced in-process (as MatmulTests does for Gemm).
    private static IEnumerable<GemmIsa> Paths()
    {
        yield return GemmIsa.Scalar;
        if (Vector256.IsHardwareAccelerated) yield return GemmIsa.Vector256;
        if (Vector512.IsHardwareAccelerated) yield return GemmIsa.Vector512;
    }

    public static TheoryData<int, string> SizesOnEveryPath()
    {
        var d = new TheoryData<int, string>();
        foreach (var isa in Paths())
            foreach (int s in Sizes) d.Add(s, isa.ToString());
        return d;
    }

    public static TheoryData<string> EveryPath()
    {
        var d = new TheoryData<string>();
        foreach (var isa in Paths()) d.Add(isa.ToString());
        return d;
    }

    private static float[] Random(int n, ulong seed, double scale = 1)
    {
        var r = new Rng(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(scale * r.NextGaussian());
        return a;
    }

    private static double[] D(float[] a) => a.Select(v => (double)v).ToArray();

    // Central differences (h = 1e-6, double) of f at every element of x against the kernel's gradient: the fp32
    // kernel's rounding grows with the row's magnitudes, so the tolerance is relative to max(1, |fd|).
    private static void CheckGradient(float[] x, float[] analytic, Func<double[], double> f, string what, double tol = 2e-4)
    {
        var xd = D(x);
        for (int i = 0; i < x.Length; i++)
        {
            double o = xd[i], h = 1e-6;
            xd[i] = o + h; double fp = f(xd);
            xd[i] = o - h; double fm = f(xd);
            xd[i] = o;
            double fd = (fp - fm) / (2 * h);
            Assert.True(Math.Abs(analytic[i] - fd) <= tol * Math.Max(1, Math.Abs(fd)), $"{what}[{i}]: kernel {analytic[i]}, finite differences {fd}");
        }
    }

    // ---- RMSNorm ----

    // Σ_n Σ_c dout[n,c] · RMSNorm(x_n; w)[c]: its gradient is what backward accumulates.
    private static double RmsLoss(double[] x, double[] w, float[] dout, int N, int C)
    {
        double s = 0;
        for (int n = 0; n < N; n++)
        {
            var y = Rms(x.AsSpan(n * C, C).ToArray(), w, Eps);
            for (int c = 0; c < C; c++) s += y[c] * dout[n * C + c];
        }
        return s;
    }

    [Theory]
    [MemberData(nameof(SizesOnEveryPath))]
    public void RmsNormForward_EveryPath_MatchesDoubleReference(int C, string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        foreach (int N in Rows)
        {
            var x = Random(N * C, 1, 2); var w = Random(C, 2);
            var y = Enumerable.Repeat(float.NaN, N * C).ToArray(); var rstd = Enumerable.Repeat(float.NaN, N).ToArray();
            RmsNorm.Forward(x, w, y, rstd, N, C, Eps, isa);
            for (int n = 0; n < N; n++)
            {
                var row = D(x).AsSpan(n * C, C).ToArray();
                var want = Rms(row, D(w), Eps);
                if (C == 0) { Assert.True(float.IsNaN(rstd[n]), "C = 0 must write nothing"); continue; }
                double wantRstd = 1 / Math.Sqrt(row.Sum(v => v * v) / C + Eps);
                Assert.True(Math.Abs(rstd[n] - wantRstd) <= 1e-6 * wantRstd, $"rstd[{n}] = {rstd[n]}, reference {wantRstd} (C = {C})");
                for (int c = 0; c < C; c++)
                    Assert.True(Math.Abs(y[n * C + c] - want[c]) <= 1e-6 * (1 + Math.Abs(want[c])), $"y[{n},{c}] = {y[n * C + c]}, reference {want[c]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(SizesOnEveryPath))]
    public void RmsNormBackward_EveryPath_AccumulatesFiniteDifferenceGradient(int C, string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        foreach (int N in Rows)
        {
            var x = Random(N * C, 3, 2); var w = Random(C, 4); var dout = Random(N * C, 5);
            var y = new float[N * C]; var rstd = new float[N];
            RmsNorm.Forward(x, w, y, rstd, N, C, Eps, isa);
            // Start from non-zero gradients: backward must add to them.
            var dx0 = Random(N * C, 6); var dw0 = Random(C, 7);
            var dx = (float[])dx0.Clone(); var dw = (float[])dw0.Clone();
            RmsNorm.Backward(dout, x, w, rstd, dx, dw, N, C, isa);
            var gx = dx.Select((v, i) => v - dx0[i]).ToArray();
            var gw = dw.Select((v, i) => v - dw0[i]).ToArray();
            var wd = D(w); var xd = D(x);
            CheckGradient(x, gx, xs => RmsLoss(xs, wd, dout, N, C), $"dinp (N = {N}, C = {C})");
            CheckGradient(w, gw, ws => RmsLoss(xd, ws, dout, N, C), $"dweight (N = {N}, C = {C})");
        }
    }

    [Fact]
    public void RmsNormForward_ConstantAndZeroRows_ExactValues()
    {
        // A constant row a·1 has mean(x²) = a², so y = a / sqrt(a² + eps) · w; a zero row gives 0 and rstd = 1/sqrt(eps).
        const int C = 33;
        float[] a = [3f, -0.5f, 0f];
        var x = a.SelectMany(v => Enumerable.Repeat(v, C)).ToArray();
        var w = Random(C, 8);
        foreach (var isa in Paths())
        {
            var y = new float[x.Length]; var rstd = new float[a.Length];
            RmsNorm.Forward(x, w, y, rstd, a.Length, C, Eps, isa);
            for (int n = 0; n < a.Length; n++)
            {
                Assert.Equal(1 / Math.Sqrt((double)a[n] * a[n] + Eps), rstd[n], 1e-6 * rstd[n]);
                for (int c = 0; c < C; c++)
                    Assert.Equal(a[n] / Math.Sqrt((double)a[n] * a[n] + Eps) * w[c], y[n * C + c], 1e-6);
            }
        }
    }

    [Theory]
    [MemberData(nameof(EveryPath))]
    public void RmsNormBackward_EmptyDweight_SameDinpAndNoColumnPass(string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        const int N = 5, C = 65;
        var x = Random(N * C, 9); var w = Random(C, 10); var dout = Random(N * C, 11);
        var y = new float[N * C]; var rstd = new float[N];
        RmsNorm.Forward(x, w, y, rstd, N, C, Eps, isa);
        var full = Random(N * C, 12); var frozen = (float[])full.Clone();
        RmsNorm.Backward(dout, x, w, rstd, full, new float[C], N, C, isa);
        // An empty slice of a real array pins to a null pointer: any column-pass write would fault, not pass silently.
        var guard = Random(C, 13); var guardCopy = (float[])guard.Clone();
        RmsNorm.Backward(dout, x, w, rstd, frozen, guard.AsSpan(0, 0), N, C, isa);
        Assert.Equal(full, frozen);
        Assert.Equal(guardCopy, guard);
    }

    [Fact]
    public void RmsNorm_BuffersTooSmall_Throw()
    {
        var x = new float[12]; var w = new float[4]; var r = new float[3];
        Assert.Throws<ArgumentException>(() => RmsNorm.Forward(x, w, new float[11], r, 3, 4, Eps));
        Assert.Throws<ArgumentException>(() => RmsNorm.Forward(x, new float[3], new float[12], r, 3, 4, Eps));
        Assert.Throws<ArgumentException>(() => RmsNorm.Backward(x, x, w, r, new float[12], new float[3], 3, 4));
        Assert.Throws<ArgumentException>(() => RmsNorm.Backward(x, x, w, new float[2], new float[12], default, 3, 4));
    }

    // ---- LayerNorm with a frozen gain ----

    [Fact]
    public void LayerNormBackward_EmptyDweight_SameDinpAndSkipsColumns()
    {
        const int N = 6, C = 33;
        var x = Random(N * C, 14, 2); var w = Random(C, 15); var b = Random(C, 16); var dout = Random(N * C, 17);
        var y = new float[N * C]; var mean = new float[N]; var rstd = new float[N];
        LayerNorm.Forward(x, w, b, y, mean, rstd, N, C, Eps);
        var full = Random(N * C, 18); var frozen = (float[])full.Clone();
        LayerNorm.Backward(dout, x, w, mean, rstd, full, new float[C], new float[C], N, C);
        var guard = Random(C, 19); var guardCopy = (float[])guard.Clone();
        LayerNorm.Backward(dout, x, w, mean, rstd, frozen, guard.AsSpan(0, 0), guard.AsSpan(0, 0), N, C);
        Assert.Equal(full, frozen);
        Assert.Equal(guardCopy, guard);
    }

    [Fact]
    public void LayerNormBackward_EmptyDweightWithDbias_Throws()
    {
        const int N = 2, C = 8;
        var x = Random(N * C, 20); var w = Random(C, 21);
        var y = new float[N * C]; var mean = new float[N]; var rstd = new float[N];
        LayerNorm.Forward(x, w, default, y, mean, rstd, N, C, Eps);
        var e = Assert.Throws<ArgumentException>(() => LayerNorm.Backward(x, x, w, mean, rstd, new float[N * C], default, new float[C], N, C));
        Assert.Contains("dbias", e.Message);
    }

    // ---- SwiGLU ----

    private static double SwiGluLoss(double[] inp, float[] dout, int N, int F)
    {
        double s = 0;
        for (int n = 0; n < N; n++)
            for (int j = 0; j < F; j++) s += SiluD(inp[n * 2 * F + j]) * inp[n * 2 * F + F + j] * dout[n * F + j];
        return s;
    }

    [Theory]
    [MemberData(nameof(SizesOnEveryPath))]
    public void SwiGluForward_EveryPath_MatchesDoubleReference(int F, string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        foreach (int N in Rows)
        {
            var inp = Random(N * 2 * F, 22, 3);
            var y = Enumerable.Repeat(float.NaN, N * F).ToArray();
            SwiGlu.Forward(inp, y, N, F, isa);
            for (int n = 0; n < N; n++)
                for (int j = 0; j < F; j++)
                {
                    double g = inp[n * 2 * F + j], u = inp[n * 2 * F + F + j], want = SiluD(g) * u;
                    Assert.True(Math.Abs(y[n * F + j] - want) <= 1e-6 * (1 + Math.Abs(want)), $"y[{n},{j}] = {y[n * F + j]}, reference {want} (gate {g}, up {u})");
                }
        }
    }

    [Theory]
    [MemberData(nameof(SizesOnEveryPath))]
    public void SwiGluBackward_EveryPath_AccumulatesFiniteDifferenceGradient(int F, string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        foreach (int N in Rows)
        {
            var inp = Random(N * 2 * F, 23, 3); var dout = Random(N * F, 24);
            var d0 = Random(N * 2 * F, 25);
            var d = (float[])d0.Clone();
            SwiGlu.Backward(inp, dout, d, N, F, isa);
            var g = d.Select((v, i) => v - d0[i]).ToArray();
            CheckGradient(inp, g, xs => SwiGluLoss(xs, dout, N, F), $"dinp (N = {N}, F = {F})");
        }
    }

    [Theory]
    [MemberData(nameof(EveryPath))]
    public void SwiGlu_GatesUpTo1e4_SaturateWithoutNaN(string path)
    {
        // SiLU(x) → x for large x (σ = 1) and → 0 for large negative x; σ' and SiLU' stay finite. 33 gates: the vector
        // body and the tail of both widths.
        var isa = Enum.Parse<GemmIsa>(path);
        float[] extremes = [-1e4f, -1000f, -100f, -89f, -88f, -81f, -80f, -50f, -20f, -6f, 0f, 6f, 20f, 50f, 80f, 88f, 89f, 100f, 1000f, 1e4f];
        const int F = 33;
        var inp = new float[2 * F];
        for (int j = 0; j < F; j++) { inp[j] = extremes[j % extremes.Length]; inp[F + j] = 1.5f; }
        var y = new float[F];
        SwiGlu.Forward(inp, y, 1, F, isa);
        var d = new float[2 * F];
        SwiGlu.Backward(inp, Enumerable.Repeat(1f, F).ToArray(), d, 1, F, isa);
        for (int j = 0; j < F; j++)
        {
            double x = inp[j], want = SiluD(x) * 1.5;
            double s = Sigmoid(x), wantDgate = 1.5 * s * (1 + x * (1 - s)), wantDup = SiluD(x);
            Assert.True(Math.Abs(y[j] - want) <= 1e-6 * Math.Max(1, Math.Abs(want)), $"SwiGLU({x}) = {y[j]}, reference {want}");
            Assert.True(float.IsFinite(d[j]) && float.IsFinite(d[F + j]), $"gradients at {x}: {d[j]}, {d[F + j]}");
            Assert.True(Math.Abs(d[j] - wantDgate) <= 1e-5 * Math.Max(1, Math.Abs(wantDgate)), $"dgate at {x} = {d[j]}, reference {wantDgate}");
            Assert.True(Math.Abs(d[F + j] - wantDup) <= 1e-6 * Math.Max(1, Math.Abs(wantDup)), $"dup at {x} = {d[F + j]}, reference {wantDup}");
        }
    }

    [Fact]
    public void SwiGlu_BuffersTooSmall_Throw()
    {
        Assert.Throws<ArgumentException>(() => SwiGlu.Forward(new float[11], new float[6], 2, 3));
        Assert.Throws<ArgumentException>(() => SwiGlu.Forward(new float[12], new float[5], 2, 3));
        Assert.Throws<ArgumentException>(() => SwiGlu.Backward(new float[12], new float[6], new float[11], 2, 3));
    }
}
