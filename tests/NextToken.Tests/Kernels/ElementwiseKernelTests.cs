// LayerNorm, GELU, residual, fused softmax-cross-entropy, embedding, RoPE and dropout kernels against double references
// and their backward passes against central finite differences (double precision) over sizes straddling vector widths.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Tests.Kernels;

public sealed class ElementwiseKernelTests
{
    public static TheoryData<int> Widths() => new() { 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 257 };

    private static float[] Random(int n, ulong seed, double scale = 1)
    {
        var r = new Rng(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(scale * r.NextGaussian());
        return a;
    }

    // Finite differences of a double-valued function of one input vector, compared with an analytic gradient.
    private static void CheckGradient(float[] x, float[] analytic, Func<double[], double> f, double tol = 2e-3)
    {
        var xd = x.Select(v => (double)v).ToArray();
        for (int i = 0; i < x.Length; i += Math.Max(1, x.Length / 40))
        {
            double o = xd[i], h = 1e-6;
            xd[i] = o + h; double fp = f(xd);
            xd[i] = o - h; double fm = f(xd);
            xd[i] = o;
            double fd = (fp - fm) / (2 * h);
            Assert.True(Math.Abs(analytic[i] - fd) <= tol * Math.Max(1, Math.Abs(fd)), $"index {i}: analytic {analytic[i]}, finite differences {fd}");
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void LayerNorm_ForwardBackward_MatchReferenceAndFiniteDifferences(int C)
    {
        const int N = 3;
        var x = Random(N * C, 1, 2); var w = Random(C, 2); var b = Random(C, 3); var dout = Random(N * C, 4);
        var y = new float[N * C]; var mean = new float[N]; var rstd = new float[N];
        LayerNorm.Forward(x, w, b, y, mean, rstd, N, C, 1e-5f);
        for (int n = 0; n < N; n++)
        {
            var row = x.Skip(n * C).Take(C).Select(v => (double)v).ToArray();
            var refRow = Reference.ReferenceGpt.Ln(row, w.Select(v => (double)v).ToArray(), b.Select(v => (double)v).ToArray(), 1e-5);
            for (int c = 0; c < C; c++) Assert.Equal(refRow[c], y[n * C + c], 1e-4);
        }
        var dx = new float[N * C]; var dw = new float[C]; var db = new float[C];
        LayerNorm.Backward(dout, x, w, mean, rstd, dx, dw, db, N, C);
        double Loss(double[] xs, double[] ws)
        {
            double s = 0;
            for (int n = 0; n < N; n++)
            {
                var yr = Reference.ReferenceGpt.Ln(xs.Skip(n * C).Take(C).ToArray(), ws, b.Select(v => (double)v).ToArray(), 1e-5);
                for (int c = 0; c < C; c++) s += yr[c] * dout[n * C + c];
            }
            return s;
        }
        var wd = w.Select(v => (double)v).ToArray();
        CheckGradient(x, dx, xs => Loss(xs, wd));
        var xd = x.Select(v => (double)v).ToArray();
        CheckGradient(w, dw, ws => Loss(xd, ws));
        for (int c = 0; c < C; c++) Assert.Equal(Enumerable.Range(0, N).Sum(n => (double)dout[n * C + c]), db[c], 1e-4);
    }

    [Fact]
    public void Gelu_LargeInputs_SaturateExactly()
    {
        // Past |x| ≈ 5 the tanh argument 2u exceeds the exp's range; the vector paths cap it and must still give
        // GELU(x) = x, GELU'(x) = 1 for large x and 0, 0 for large negative x (33 values: vector body and tail).
        float[] extremes = [-1e4f, -1000f, -100f, -20f, -11f, -6f, -3f, 0f, 3f, 6f, 11f, 20f, 100f, 1000f, 1e4f];
        var x = Enumerable.Range(0, 33).Select(i => extremes[i % extremes.Length]).ToArray();
        var y = new float[x.Length];
        Gelu.Forward(x, y, x.Length);
        var dx = new float[x.Length];
        Gelu.Backward(x, Enumerable.Repeat(1f, x.Length).ToArray(), dx, x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            double want = Reference.ReferenceGpt.GeluD(x[i]);
            Assert.True(Math.Abs(y[i] - want) <= 1e-6 * Math.Max(1, Math.Abs(want)), $"GELU({x[i]}) = {y[i]}, reference {want}");
            Assert.True(float.IsFinite(dx[i]), $"GELU'({x[i]}) = {dx[i]}");
            if (Math.Abs(x[i]) >= 6) Assert.Equal(x[i] > 0 ? 1f : 0f, dx[i], 1e-5f);
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Gelu_ForwardBackward_MatchReferenceAndFiniteDifferences(int n)
    {
        var x = Random(n, 5, 2); var dout = Random(n, 6);
        var y = new float[n];
        Gelu.Forward(x, y, n);
        for (int i = 0; i < n; i++) Assert.Equal(Reference.ReferenceGpt.GeluD(x[i]), y[i], 1e-5);
        var dx = new float[n];
        Gelu.Backward(x, dout, dx, n);
        CheckGradient(x, dx, xs => xs.Select((v, i) => Reference.ReferenceGpt.GeluD(v) * dout[i]).Sum());
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void CrossEntropy_FusedGradient_MatchesFiniteDifferences(int V)
    {
        const int N = 3;
        var logits = Random(N * V, 7, 3);
        int[] targets = [0, V - 1, V > 1 ? -1 : 0];
        var losses = new float[N];
        var grad = (float[])logits.Clone();
        int counted = CrossEntropy.ForwardBackward(grad, targets, losses, N, V, 0.5f);
        Assert.Equal(targets.Count(t => t >= 0), counted);
        double Ref(double[] l)
        {
            double s = 0;
            for (int n = 0; n < N; n++)
            {
                if (targets[n] < 0) continue;
                var row = l.Skip(n * V).Take(V).ToArray();
                double mx = row.Max();
                s += Math.Log(row.Sum(z => Math.Exp(z - mx))) + mx - row[targets[n]];
            }
            return 0.5 * s;
        }
        for (int n = 0; n < N; n++)
            if (targets[n] >= 0)
            {
                var row = logits.Skip(n * V).Take(V).Select(v => (double)v).ToArray();
                double mx = row.Max();
                Assert.Equal(Math.Log(row.Sum(z => Math.Exp(z - mx))) + mx - row[targets[n]], losses[n], 1e-4);
            }
            else Assert.Equal(0f, losses[n]);
        CheckGradient(logits, grad, Ref);
    }

    [Fact]
    public void CrossEntropy_TargetOutOfRange_Throws()
    {
        var logits = new float[4];
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => CrossEntropy.ForwardBackward(logits, [7], new float[1], 1, 4, 0f));
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Encoder_Backward_AccumulatesRowsOfRepeatedTokens(int C)
    {
        int[] tokens = [2, 0, 2, 1];
        var wte = Random(3 * C, 8); var wpe = Random(4 * C, 9); var dout = Random(4 * C, 10);
        var y = new float[4 * C];
        int[] positions = [0, 1, 0, 1];
        Encoder.Forward(tokens, wte, wpe, positions, y, 4, C);
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < C; c++) Assert.Equal(wte[tokens[i] * C + c] + wpe[(i % 2) * C + c], y[i * C + c], 6);
        var dwte = new float[3 * C]; var dwpe = new float[4 * C];
        Encoder.Backward(dout, tokens, positions, dwte, dwpe, 4, C);
        for (int c = 0; c < C; c++)
        {
            Assert.Equal(dout[c + 0 * C] + dout[c + 2 * C], dwte[2 * C + c], 5);
            Assert.Equal(dout[c + 0 * C] + dout[c + 2 * C], dwpe[c], 5);
            Assert.Equal(dout[c + 1 * C] + dout[c + 3 * C], dwpe[C + c], 5);
        }
    }

    [Fact]
    public void Rope_InverseAfterForward_RestoresAndPreservesNorms()
    {
        const int C = 16, NH = 2, T = 5;
        var cos = new float[T * 4]; var sin = new float[T * 4];
        Rope.Tables(cos, sin, T, C / NH, 10000f);
        var x = Random(T * 3 * C, 11);
        var y = (float[])x.Clone();
        int[] positions = Enumerable.Range(0, T).ToArray();
        Rope.Apply(y, cos, sin, positions, T, 3 * C, NH, C / NH, inverse: false);
        for (int t = 0; t < T; t++)
            for (int j = 0; j < C; j += 2)
            {
                double a = x[t * 3 * C + j], b = x[t * 3 * C + j + 1], ya = y[t * 3 * C + j], yb = y[t * 3 * C + j + 1];
                Assert.Equal(a * a + b * b, ya * ya + yb * yb, 4);
            }
        Assert.Equal(x[0], y[0]); // position 0 is not rotated
        Rope.Apply(y, cos, sin, positions, T, 3 * C, NH, C / NH, inverse: true);
        for (int i = 0; i < x.Length; i++) Assert.Equal(x[i], y[i], 5);
    }

    [Fact]
    public void Rope_ExplicitPositions_RotateEachRowByItsOwnAngle()
    {
        const int HS = 8, heads = 3, stride = 40, T = 12;
        var cos = new float[T * HS / 2]; var sin = new float[T * HS / 2];
        Rope.Tables(cos, sin, T, HS, 500f);
        int[] positions = [7, 0, 11, 3];
        var x = Random(positions.Length * stride, 12);
        var y = (float[])x.Clone();
        Rope.Apply(y, cos, sin, positions, positions.Length, stride, heads, HS, inverse: false);
        for (int r = 0; r < positions.Length; r++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < HS / 2; i++)
                {
                    int j = r * stride + h * HS + 2 * i;
                    double ang = positions[r] * Math.Pow(500.0, -2.0 * i / HS);
                    Assert.Equal(x[j] * Math.Cos(ang) - x[j + 1] * Math.Sin(ang), y[j], 5);
                    Assert.Equal(x[j] * Math.Sin(ang) + x[j + 1] * Math.Cos(ang), y[j + 1], 5);
                }
        for (int r = 0; r < positions.Length; r++)
            for (int c = heads * HS; c < stride; c++) Assert.Equal(x[r * stride + c], y[r * stride + c]); // values untouched
    }

    [Fact]
    public void Dropout_KeepRate_MatchesProbabilityAndScales()
    {
        const int n = 100_000;
        var x = Enumerable.Repeat(1f, n).ToArray();
        var y = new float[n]; var mask = new float[n];
        var rng = new Rng(3);
        Dropout.Forward(x, y, mask, 0.25f, ref rng, n);
        double kept = y.Count(v => v != 0) / (double)n;
        Assert.InRange(kept, 0.745, 0.755);
        Assert.All(y.Where(v => v != 0), v => Assert.Equal(1f / 0.75f, v, 5));
        var dx = new float[n];
        Dropout.Backward(x, mask, dx, n);
        Assert.Equal(y, dx);
    }
}
