// Fused causal attention (multi-head, grouped-query, multi-query; plain causal or per-row key ranges) against a naive
// double-precision reference, its backward against that reference's analytic backward and finite differences, packed
// documents against each document alone, the KV-cache decode form against the training forward, and run-to-run /
// thread-count determinism; on every instruction-set path this machine accelerates, forced in-process (as MatmulTests
// and NormKernelTests do): Vector512 (four-row kernels when HS is a multiple of 16), Vector256, scalar.
using System.Runtime.Intrinsics;
using NextToken.Kernels;
using NextToken.Tensors;
using NextToken.Tests.Reference;

namespace NextToken.Tests.Kernels;

public sealed class AttentionTests
{
    // Every path this machine accelerates, forced in-process.
    private static IEnumerable<GemmIsa> Paths()
    {
        yield return GemmIsa.Scalar;
        if (Vector256.IsHardwareAccelerated) yield return GemmIsa.Vector256;
        if (Vector512.IsHardwareAccelerated) yield return GemmIsa.Vector512;
    }

    // Each row of data on every path (the path name last).
    private static TheoryData<T1, T2, T3, string> OnEveryPath<T1, T2, T3>(IEnumerable<(T1, T2, T3)> rows)
    {
        var d = new TheoryData<T1, T2, T3, string>();
        foreach (var isa in Paths())
            foreach (var (a, b, c) in rows) d.Add(a, b, c, isa.ToString());
        return d;
    }

    private static TheoryData<T1, T2, T3, T4, string> OnEveryPath<T1, T2, T3, T4>(IEnumerable<(T1, T2, T3, T4)> rows)
    {
        var d = new TheoryData<T1, T2, T3, T4, string>();
        foreach (var isa in Paths())
            foreach (var (a, b, c, e) in rows) d.Add(a, b, c, e, isa.ToString());
        return d;
    }

    // (T, NH, HS): head sizes straddling the vector widths (HS not a multiple of 16 included), T across block edges.
    private static readonly (int T, int NH, int HS)[] ShapeList =
    [
        (1, 2, 16), (2, 1, 1), (3, 1, 64), (7, 2, 64), (18, 1, 128), (7, 2, 17), (17, 3, 33), (64, 2, 64), (65, 2, 9), (33, 1, 8), (17, 2, 65), (19, 2, 32), (66, 1, 48),
    ];

    public static TheoryData<int, int, int, string> Shapes() => OnEveryPath(ShapeList);

    // (T, NH, NKV, HS): the shapes above with grouped-query (NH, NKV) = (6, 2), (4, 2) and multi-query (4, 1).
    public static TheoryData<int, int, int, int, string> GroupedShapes() =>
        OnEveryPath(from s in ShapeList from h in new[] { (6, 2), (4, 2), (4, 1) } select (s.T, h.Item1, h.Item2, s.HS));

    // Head sizes straddling the vector widths, for the key-range tests.
    public static readonly int[] HeadSizes = [1, 8, 9, 16, 17, 32, 33, 48, 64, 65, 128];

    // (HS, NH, NKV, layout) for the key-range tests: every head size with multi-head, grouped-query and multi-query heads.
    public static TheoryData<int, int, int, string, string> KeyRangeCases() =>
        OnEveryPath(from hs in HeadSizes from h in new[] { (2, 2), (6, 2), (4, 1) } from layout in new[] { "documents", "random" }
                    select (hs, h.Item1, h.Item2, layout));

    private static float[] Random(int n, ulong seed, double scale = 1)
    {
        var r = new Rng(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(scale * r.NextGaussian());
        return a;
    }

    private static double[] ToDouble(float[] a) => a.Select(v => (double)v).ToArray();

    // Documents of these lengths packed one after another in each of B rows: keyStart of a row is its document's first.
    private static int[] Packed(int B, params int[] lengths)
    {
        var starts = new List<int>();
        foreach (int n in lengths)
        {
            int first = starts.Count;
            for (int i = 0; i < n; i++) starts.Add(first);
        }
        return Enumerable.Range(0, B).SelectMany(_ => starts).ToArray();
    }

    // T = 70 as documents of 6, 15, 1, 2, 17 and 29 tokens: boundaries at 6 (inside the 4-row group 4..7), 21 and 22
    // (the group 20..23 holds three starts; inside the 16-row block 16..31), 24 (on a group edge) and 41 (inside the
    // group 40..43 and the block 32..47).
    private static readonly int[] DocumentLengths = [6, 15, 1, 2, 17, 29];

    // A valid start drawn uniformly from 0 .. t for every row (every row of a group and a block may differ).
    private static int[] RandomStarts(int B, int T, ulong seed)
    {
        var r = new Rng(seed);
        var s = new int[B * T];
        for (int i = 0; i < s.Length; i++) s[i] = r.NextInt(i % T + 1);
        return s;
    }

    private static int[] Layout(string name, int B, int T) => name switch
    {
        "documents" => Packed(B, DocumentLengths),
        "random" => RandomStarts(B, T, 7),
        _ => throw new ArgumentException(name),
    };

    private static (float[] o, float[] lse) Forward(float[] qkv, int[]? keyStart, int B, int T, int NH, int NKV, int HS, GemmIsa isa)
    {
        var o = new float[B * T * NH * HS];
        var lse = new float[Attention.ScratchSize(B, T, NH)];
        Attention.Forward(qkv, o, lse, keyStart, B, T, NH, NKV, HS, isa);
        return (o, lse);
    }

    private static void AssertClose(double[] expected, float[] actual, double abs, double rel, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= abs + rel * Math.Abs(expected[i]), $"{what}[{i}] = {actual[i]}, reference {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_MatchesDoubleReference(int T, int NH, int HS, string path)
    {
        const int B = 2;
        var qkv = Random(B * T * 3 * NH * HS, 11, 1.5);
        var (outp, _) = Forward(qkv, null, B, T, NH, NH, HS, Enum.Parse<GemmIsa>(path));
        AssertClose(ReferenceAttention.Forward(ToDouble(qkv), null, B, T, NH, NH, HS), outp, 1e-5, 1e-5, "out");
    }

    [Theory]
    [MemberData(nameof(GroupedShapes))]
    public void Forward_GroupedAndMultiQuery_MatchesDoubleReference(int T, int NH, int NKV, int HS, string path)
    {
        const int B = 2;
        var qkv = Random(B * T * (NH + 2 * NKV) * HS, 13, 1.5);
        var (outp, _) = Forward(qkv, null, B, T, NH, NKV, HS, Enum.Parse<GemmIsa>(path));
        AssertClose(ReferenceAttention.Forward(ToDouble(qkv), null, B, T, NH, NKV, HS), outp, 1e-5, 1e-5, "out");
    }

    [Theory]
    [InlineData(5, 2, 2, false)]
    [InlineData(32, 2, 2, false)] // the four-row kernels, 16-column tail only
    [InlineData(64, 2, 2, false)] // the four-row kernels
    [InlineData(5, 4, 2, true)]
    [InlineData(64, 4, 1, true)]
    public void Forward_LongerThanOneKeyBlock_MatchesDoubleReference(int HS, int NH, int NKV, bool documents)
    {
        // T = 301 crosses the online-softmax key block (256), so the running max and sum are rescaled; with documents of
        // 37 and 264 tokens the second one crosses a key block counted from its own start.
        const int B = 1, T = 301;
        var qkv = Random(B * T * (NH + 2 * NKV) * HS, 12, HS >= 32 ? 1 : 3); // scores of similar spread for both head sizes
        int[]? ks = documents ? Packed(B, 37, 264) : null;
        var expected = ReferenceAttention.Forward(ToDouble(qkv), ks, B, T, NH, NKV, HS);
        foreach (var isa in Paths())
        {
            var (outp, _) = Forward(qkv, ks, B, T, NH, NKV, HS, isa);
            AssertClose(expected, outp, 2e-5, 2e-5, $"{isa} out");
        }
    }

    [Theory]
    [MemberData(nameof(KeyRangeCases))]
    public void Forward_KeyRanges_MatchesDoubleReference(int HS, int NH, int NKV, string layout, string path)
    {
        const int B = 2, T = 70;
        var qkv = Random(B * T * (NH + 2 * NKV) * HS, 14, HS >= 32 ? 1 : 2);
        var ks = Layout(layout, B, T);
        var (outp, _) = Forward(qkv, ks, B, T, NH, NKV, HS, Enum.Parse<GemmIsa>(path));
        AssertClose(ReferenceAttention.Forward(ToDouble(qkv), ks, B, T, NH, NKV, HS), outp, 1e-5, 1e-5, "out");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_MatchesFiniteDifferences(int T, int NH, int HS, string path)
    {
        const int B = 1;
        int C = NH * HS;
        var isa = Enum.Parse<GemmIsa>(path);
        var qkv = Random(B * T * 3 * C, 21);
        var dout = Random(B * T * C, 22);
        var (outp, scratch) = Forward(qkv, null, B, T, NH, NH, HS, isa);
        var dqkv = Random(B * T * 3 * C, 23); // backward accumulates: start from non-zero
        var before = (float[])dqkv.Clone();
        Attention.Backward(dout, qkv, outp, scratch, default, dqkv, B, T, NH, NH, HS, isa);
        var x = ToDouble(qkv);
        double Loss()
        {
            var o = ReferenceAttention.Forward(x, null, B, T, NH, NH, HS);
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

    // Every entry of dqkv against the analytic double backward (which is itself checked against finite differences of the
    // double forward at a stride of entries, once per case: on the widest path), for grouped-query and multi-query heads
    // with key ranges.
    [Theory]
    [MemberData(nameof(KeyRangeCases))]
    public void Backward_KeyRanges_MatchesReferenceAndFiniteDifferences(int HS, int NH, int NKV, string layout, string path)
    {
        const int B = 2, T = 70;
        int W = (NH + 2 * NKV) * HS, C = NH * HS;
        var isa = Enum.Parse<GemmIsa>(path);
        var qkv = Random(B * T * W, 24);
        var dout = Random(B * T * C, 25);
        var ks = Layout(layout, B, T);
        var (outp, scratch) = Forward(qkv, ks, B, T, NH, NKV, HS, isa);
        var dqkv = Random(B * T * W, 26);
        var before = (float[])dqkv.Clone();
        Attention.Backward(dout, qkv, outp, scratch, ks, dqkv, B, T, NH, NKV, HS, isa);
        var x = ToDouble(qkv);
        var expected = ReferenceAttention.Backward(x, ToDouble(dout), ks, B, T, NH, NKV, HS);
        for (int i = 0; i < expected.Length; i++)
        {
            double got = (double)dqkv[i] - before[i];
            Assert.True(Math.Abs(got - expected[i]) <= 2e-5 + 1e-4 * Math.Abs(expected[i]), $"dqkv[{i}] = {got}, reference {expected[i]}");
        }
        if (isa != GemmIsa.Auto.Resolve()) return;
        double Loss()
        {
            var o = ReferenceAttention.Forward(x, ks, B, T, NH, NKV, HS);
            double s = 0;
            for (int i = 0; i < o.Length; i++) s += o[i] * dout[i];
            return s;
        }
        int stride = Math.Max(1, x.Length / 40) | 1;
        for (int i = 0; i < x.Length; i += stride)
        {
            double orig = x[i], h = 1e-5;
            x[i] = orig + h; double lp = Loss();
            x[i] = orig - h; double lm = Loss();
            x[i] = orig;
            double fd = (lp - lm) / (2 * h);
            Assert.True(Math.Abs(expected[i] - fd) <= 1e-6 + 1e-5 * Math.Abs(fd), $"reference dqkv[{i}] = {expected[i]}, finite differences {fd}");
        }
    }

    // Several documents packed in one row give each document's outputs, log-sum-exps and gradients bit for bit: a row's
    // key blocks start at its own first key, keys outside its range get probability exactly 0, and every dK/dV sum runs
    // over its rows in one ascending chain. The exception: the one-row backward (HS not a multiple of 16) on Vector512
    // sums dK/dV with two FMA chains (even and odd rows) per 16-row block when HS ≥ 64, and the blocks of a packed
    // document are shifted against its blocks alone, so there its dK/dV agree to rounding only.
    public static TheoryData<int, int, int, string> PackedCases() =>
        OnEveryPath(new[] { (1, 1, 1), (8, 2, 2), (9, 6, 2), (17, 4, 1), (33, 2, 1), (48, 6, 2), (64, 2, 2), (64, 4, 2), (65, 4, 2), (128, 2, 1) });

    [Theory]
    [MemberData(nameof(PackedCases))]
    public void ForwardBackward_PackedDocuments_EqualEachDocumentAlone(int HS, int NH, int NKV, string path)
    {
        int W = (NH + 2 * NKV) * HS, C = NH * HS, T = DocumentLengths.Sum();
        var isa = Enum.Parse<GemmIsa>(path);
        var qkv = Random(T * W, 51);
        var dout = Random(T * C, 52);
        var ks = Packed(1, DocumentLengths);
        var (o, lse) = Forward(qkv, ks, 1, T, NH, NKV, HS, isa);
        var d = new float[T * W];
        Attention.Backward(dout, qkv, o, lse, ks, d, 1, T, NH, NKV, HS, isa);
        bool exactBackward = !(isa == GemmIsa.Vector512 && HS % 16 != 0 && HS >= 64);
        int first = 0;
        foreach (int n in DocumentLengths)
        {
            var (o1, lse1) = Forward(qkv.AsSpan(first * W, n * W).ToArray(), null, 1, n, NH, NKV, HS, isa);
            var d1 = new float[n * W];
            Attention.Backward(dout.AsSpan(first * C, n * C).ToArray(), qkv.AsSpan(first * W, n * W).ToArray(), o1, lse1, default, d1, 1, n, NH, NKV, HS, isa);
            Assert.Equal(o1, o.AsSpan(first * C, n * C).ToArray());
            for (int h = 0; h < NH; h++) Assert.Equal(lse1.AsSpan(h * n, n).ToArray(), lse.AsSpan(h * T + first, n).ToArray());
            var dp = d.AsSpan(first * W, n * W).ToArray();
            if (exactBackward) Assert.Equal(d1, dp);
            else
                for (int i = 0; i < d1.Length; i++) Assert.True(Math.Abs(d1[i] - dp[i]) <= 1e-6 + 1e-5 * Math.Abs(d1[i]), $"document at {first}: dqkv[{i}] = {dp[i]} packed, {d1[i]} alone");
            first += n;
        }
    }

    public static TheoryData<int, int, int, int, string> DecodeCases() =>
        OnEveryPath(new[] { (17, 2, 2, 16), (65, 3, 3, 7), (33, 6, 2, 16), (21, 4, 1, 9) });

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void Decode_EachNewPosition_MatchesForwardRows(int T, int NH, int NKV, int HS, string path)
    {
        int W = (NH + 2 * NKV) * HS, C = NH * HS, KV = NKV * HS;
        var isa = Enum.Parse<GemmIsa>(path);
        var qkv = Random(T * W, 31);
        var (outp, _) = Forward(qkv, null, 1, T, NH, NKV, HS, isa);
        var keys = new float[T * KV]; var values = new float[T * KV];
        for (int t = 0; t < T; t++)
        {
            qkv.AsSpan(t * W + C, KV).CopyTo(keys.AsSpan(t * KV));
            qkv.AsSpan(t * W + C + KV, KV).CopyTo(values.AsSpan(t * KV));
        }
        // One position at a time, then the last three together (speculative verification's shape).
        var o = new float[3 * C];
        for (int t = 0; t < T; t++)
        {
            Attention.Decode(qkv.AsSpan(t * W, C), keys, values, o, 1, t + 1, NH, NKV, HS, isa);
            for (int c = 0; c < C; c++) Assert.Equal(outp[t * C + c], o[c], 1e-5f);
        }
        var q3 = new float[3 * C];
        for (int i = 0; i < 3; i++) qkv.AsSpan((T - 3 + i) * W, C).CopyTo(q3.AsSpan(i * C));
        Attention.Decode(q3, keys, values, o, 3, T, NH, NKV, HS, isa);
        for (int i = 0; i < 3 * C; i++) Assert.Equal(outp[(T - 3) * C + i], o[i], 1e-5f);
    }

    // (HS, NH, NKV, documents): HS = 48 and 64 run the four-row kernels on Vector512 (48 with a 16-column tail).
    public static TheoryData<int, int, int, bool, string> ThreadCases() =>
        OnEveryPath(new[] { (20, 3, 3, false), (48, 3, 3, false), (64, 3, 3, false), (20, 6, 2, true), (64, 6, 2, true), (64, 4, 1, true) });

    [Theory]
    [MemberData(nameof(ThreadCases))]
    public void ForwardBackward_OneAndTwoThreads_BitIdentical(int HS, int NH, int NKV, bool documents, string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        const int B = 2, T = 70;
        int W = (NH + 2 * NKV) * HS, C = NH * HS;
        var qkv = Random(B * T * W, 41);
        var dout = Random(B * T * C, 42);
        int[]? ks = documents ? Packed(B, DocumentLengths) : null;
        (float[] o, float[] d) Run()
        {
            var (o, s) = Forward(qkv, ks, B, T, NH, NKV, HS, isa);
            var d = new float[B * T * W];
            Attention.Backward(dout, qkv, o, s, ks, d, B, T, NH, NKV, HS, isa);
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

    [Fact]
    public void ForwardBackward_KeyStartOutOfRange_ThrowsNamingTheRow()
    {
        const int B = 2, T = 5, NH = 2, HS = 4;
        var qkv = new float[B * T * 3 * NH * HS]; var o = new float[B * T * NH * HS]; var s = new float[Attention.ScratchSize(B, T, NH)];
        var ks = new int[B * T];
        ks[T + 3] = 4; // sequence 1, row 3: a start after the row
        var e = Assert.Throws<ArgumentException>(() => Attention.Forward(qkv, o, s, ks, B, T, NH, NH, HS));
        Assert.Contains("keyStart[8] = 4 (sequence 1, row 3)", e.Message);
        ks[T + 3] = 0; ks[2] = -1;
        e = Assert.Throws<ArgumentException>(() => Attention.Backward(o, qkv, o, s, ks, new float[qkv.Length], B, T, NH, NH, HS));
        Assert.Contains("keyStart[2] = -1 (sequence 0, row 2)", e.Message);
        e = Assert.Throws<ArgumentException>(() => Attention.Forward(qkv, o, s, new int[T], B, T, NH, NH, HS));
        Assert.Contains("one per row", e.Message);
    }

    [Fact]
    public void Forward_KvHeadsNotDividingHeads_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => Attention.Forward(new float[100], new float[100], new float[100], default, 1, 2, 3, 2, 4));
        Assert.Contains("NKV=2 must divide the query heads NH=3", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Attention.Decode(default, default, default, default, 1, 1, 2, 0, 4));
        e = Assert.Throws<ArgumentException>(() => Attention.Forward(new float[10], new float[100], new float[100], default, 1, 2, 4, 2, 4));
        Assert.Contains("qkv needs 64 floats", e.Message);
    }
}
