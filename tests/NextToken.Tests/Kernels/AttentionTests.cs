// Fused causal attention against a naive double-precision reference, its backward against finite differences of that
// reference, the KV-cache decode form against the training forward, and run-to-run / thread-count determinism.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Tests.Kernels;

public sealed class AttentionTests
{
    // (T, NH, HS): head sizes straddling the vector widths (HS not a multiple of 16 included), T across block edges.
    public static TheoryData<int, int, int> Shapes() => new()
    {
        { 1, 2, 16 }, { 2, 1, 1 }, { 3, 1, 64 }, { 7, 2, 64 }, { 18, 1, 128 }, { 7, 2, 17 }, { 17, 3, 33 }, { 64, 2, 64 }, { 65, 2, 9 }, { 33, 1, 8 }, { 17, 2, 65 }, { 19, 2, 32 }, { 66, 1, 48 },
    };

    private static float[] Random(int n, ulong seed, double scale = 1)
    {
        var r = new Rng(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(scale * r.NextGaussian());
        return a;
    }

    // out[b,t,h] = Σ_{j≤t} softmax_j(q·k_j / sqrt(HS)) v_j, in double.
    private static double[] ReferenceForward(double[] qkv, int B, int T, int C, int NH)
    {
        int HS = C / NH, C3 = 3 * C;
        var o = new double[B * T * C];
        var s = new double[T];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int t = 0; t < T; t++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= t; j++)
                    {
                        double d = 0;
                        for (int c = 0; c < HS; c++) d += qkv[(b * T + t) * C3 + h * HS + c] * qkv[(b * T + j) * C3 + C + h * HS + c];
                        s[j] = d / Math.Sqrt(HS);
                        max = Math.Max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                    for (int j = 0; j <= t; j++)
                        for (int c = 0; c < HS; c++) o[(b * T + t) * C + h * HS + c] += s[j] / sum * qkv[(b * T + j) * C3 + 2 * C + h * HS + c];
                }
        return o;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_MatchesDoubleReference(int T, int NH, int HS)
    {
        const int B = 2;
        int C = NH * HS;
        var qkv = Random(B * T * 3 * C, 11, 1.5);
        var outp = new float[B * T * C];
        var scratch = new float[Attention.ScratchSize(B, T, C, NH)];
        Attention.Forward(qkv, outp, scratch, B, T, C, NH);
        var expected = ReferenceForward(qkv.Select(v => (double)v).ToArray(), B, T, C, NH);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - outp[i]) <= 1e-5 + 1e-5 * Math.Abs(expected[i]), $"out[{i}] = {outp[i]}, reference {expected[i]}");
    }

    [Theory]
    [InlineData(5)]
    [InlineData(32)] // the four-row kernels, 16-column tail only
    [InlineData(64)] // the four-row kernels
    public void Forward_LongerThanOneKeyBlock_MatchesDoubleReference(int HS)
    {
        // T = 301 crosses the online-softmax key block (256), so the running max and sum are rescaled.
        const int B = 1, T = 301, NH = 2;
        int C = NH * HS;
        var qkv = Random(B * T * 3 * C, 12, HS >= 32 ? 1 : 3); // scores of similar spread for both head sizes
        var outp = new float[B * T * C];
        var scratch = new float[Attention.ScratchSize(B, T, C, NH)];
        Attention.Forward(qkv, outp, scratch, B, T, C, NH);
        var expected = ReferenceForward(qkv.Select(v => (double)v).ToArray(), B, T, C, NH);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - outp[i]) <= 2e-5 + 2e-5 * Math.Abs(expected[i]), $"out[{i}] = {outp[i]}, reference {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_MatchesFiniteDifferences(int T, int NH, int HS)
    {
        const int B = 1;
        int C = NH * HS;
        var qkv = Random(B * T * 3 * C, 21);
        var dout = Random(B * T * C, 22);
        var outp = new float[B * T * C];
        var scratch = new float[Attention.ScratchSize(B, T, C, NH)];
        Attention.Forward(qkv, outp, scratch, B, T, C, NH);
        var dqkv = Random(B * T * 3 * C, 23); // backward accumulates: start from non-zero
        var before = (float[])dqkv.Clone();
        Attention.Backward(dout, qkv, outp, scratch, dqkv, B, T, C, NH);
        var x = qkv.Select(v => (double)v).ToArray();
        double Loss()
        {
            var o = ReferenceForward(x, B, T, C, NH);
            double s = 0;
            for (int i = 0; i < o.Length; i++) s += o[i] * dout[i];
            return s;
        }
        int stride = Math.Max(1, x.Length / 60);
        for (int i = 0; i < x.Length; i += stride)
        {
            double orig = x[i], h = 1e-5;
            x[i] = orig + h; double lp = Loss();
            x[i] = orig - h; double lm = Loss();
            x[i] = orig;
            double fd = (lp - lm) / (2 * h), analytic = dqkv[i] - before[i];
            Assert.True(Math.Abs(analytic - fd) <= 1e-4 + 1e-3 * Math.Abs(fd), $"dqkv[{i}] = {analytic}, finite differences {fd}");
        }
    }

    [Theory]
    [InlineData(17, 2, 16)]
    [InlineData(65, 3, 7)]
    public void Decode_EachNewPosition_MatchesForwardRows(int T, int NH, int HS)
    {
        int C = NH * HS;
        var qkv = Random(T * 3 * C, 31);
        var outp = new float[T * C];
        Attention.Forward(qkv, outp, new float[Attention.ScratchSize(1, T, C, NH)], 1, T, C, NH);
        var keys = new float[T * C]; var values = new float[T * C];
        for (int t = 0; t < T; t++)
        {
            qkv.AsSpan(t * 3 * C + C, C).CopyTo(keys.AsSpan(t * C));
            qkv.AsSpan(t * 3 * C + 2 * C, C).CopyTo(values.AsSpan(t * C));
        }
        // One position at a time, then the last three together (speculative verification's shape).
        var o = new float[3 * C];
        for (int t = 0; t < T; t++)
        {
            Attention.Decode(qkv.AsSpan(t * 3 * C, C), keys, values, o, 1, t + 1, C, NH);
            for (int c = 0; c < C; c++) Assert.Equal(outp[t * C + c], o[c], 1e-5f);
        }
        var q3 = new float[3 * C];
        for (int i = 0; i < 3; i++) qkv.AsSpan((T - 3 + i) * 3 * C, C).CopyTo(q3.AsSpan(i * C));
        Attention.Decode(q3, keys, values, o, 3, T, C, NH);
        for (int i = 0; i < 3 * C; i++) Assert.Equal(outp[(T - 3) * C + i], o[i], 1e-5f);
    }

    [Theory]
    [InlineData(20)]
    [InlineData(48)] // the four-row kernels with a 16-column tail
    [InlineData(64)] // the four-row kernels
    public void ForwardBackward_OneAndTwoThreads_BitIdentical(int HS)
    {
        const int B = 2, T = 70, NH = 3;
        int C = NH * HS;
        var qkv = Random(B * T * 3 * C, 41);
        var dout = Random(B * T * C, 42);
        (float[] o, float[] d) Run()
        {
            var o = new float[B * T * C];
            var s = new float[Attention.ScratchSize(B, T, C, NH)];
            Attention.Forward(qkv, o, s, B, T, C, NH);
            var d = new float[B * T * 3 * C];
            Attention.Backward(dout, qkv, o, s, d, B, T, C, NH);
            return (o, d);
        }
        int saved = ParallelRows.MaxThreads;
        try
        {
            ParallelRows.MaxThreads = 1;
            var one = Run();
            ParallelRows.MaxThreads = 2;
            var two = Run();
            var again = Run();
            Assert.Equal(one.o, two.o);
            Assert.Equal(one.d, two.d);
            Assert.Equal(two.d, again.d);
        }
        finally { ParallelRows.MaxThreads = saved; }
    }
}
