// Matmul (Gemm and GEMV paths) against a naive double-precision reference on every ISA path, sizes straddling the
// vector widths and the cache blocks, accumulate/skip semantics, and bit-identical results for 1, 2 and 3 threads.
using System.Diagnostics;
using System.Runtime.Intrinsics;
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Tests.Kernels;

public sealed class MatmulTests
{
    private static readonly int[] Sizes = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 257];

    // Every path this machine accelerates (all three on an AVX-512 machine); the child-process tests below cover
    // the paths the JIT picks when AVX-512 or AVX2 is switched off.
    private static IEnumerable<GemmIsa> Paths()
    {
        yield return GemmIsa.Scalar;
        if (Vector256.IsHardwareAccelerated) yield return GemmIsa.Vector256;
        if (Vector512.IsHardwareAccelerated) yield return GemmIsa.Vector512;
    }

    // A sampled grid: each size appears as N, as C and as OC three times each, paired with scattered others.
    public static TheoryData<int, int, int, string> Grid()
    {
        var d = new TheoryData<int, int, int, string>();
        int s = Sizes.Length;
        foreach (var isa in Paths())
            for (int i = 0; i < s; i++)
            {
                d.Add(Sizes[i], Sizes[(i * 7 + 3) % s], Sizes[(i * 11 + 5) % s], isa.ToString());
                d.Add(Sizes[(i * 5 + 1) % s], Sizes[i], Sizes[(i * 3 + 2) % s], isa.ToString());
                d.Add(Sizes[(i * 13 + 7) % s], Sizes[(i * 9 + 4) % s], Sizes[i], isa.ToString());
            }
        return d;
    }

    public static TheoryData<string> AllPaths()
    {
        var d = new TheoryData<string>();
        foreach (var isa in Paths()) d.Add(isa.ToString());
        return d;
    }

    private static float[] Random(int n, ulong seed)
    {
        var a = new float[n];
        new Rng(seed).FillNormal(a, 0f, 1f);
        return a;
    }

    // |got - want| <= tol · (sum of |terms|): fp32 rounding grows with the magnitudes summed, not with the result.
    private static void AssertClose(double want, double magnitude, float got, string what, double tol = 1e-5)
        => Assert.True(Math.Abs(got - want) <= tol * magnitude + 1e-30, $"{what}: got {got}, reference {want} (scale {magnitude})");

    // Rows 0, stride, 2·stride, … and the last (all rows for stride 1): a stride prime to the tile sizes still
    // lands in every tile position, so block-edge bugs show while the double reference stays cheap.
    private static IEnumerable<int> Sampled(int count, int stride)
    {
        for (int i = 0; i < count; i += stride) yield return i;
        if (count > 0 && (count - 1) % stride != 0) yield return count - 1;
    }

    private static void CheckForward(float[] inp, float[] w, float[]? bias, float[] outp, int N, int C, int OC, int stride = 1)
    {
        foreach (int n in Sampled(N, stride))
            for (int o = 0; o < OC; o++)
            {
                double s = bias?[o] ?? 0, mag = Math.Abs(s);
                for (int k = 0; k < C; k++) { double t = (double)inp[n * C + k] * w[o * C + k]; s += t; mag += Math.Abs(t); }
                AssertClose(s, mag, outp[n * OC + o], $"out[{n},{o}] N={N} C={C} OC={OC}");
            }
    }

    // dinp0/dw0/db0 are the values before Backward: the kernel must add to them.
    private static void CheckBackward(float[] dout, float[] inp, float[] w, float[]? dinp0, float[]? dinp, float[]? dw0, float[]? dw,
                                      float[]? db0, float[]? db, int N, int C, int OC, int stride = 1)
    {
        if (dinp is not null)
            foreach (int n in Sampled(N, stride))
                for (int k = 0; k < C; k++)
                {
                    double s = dinp0![n * C + k], mag = Math.Abs(s);
                    for (int o = 0; o < OC; o++) { double t = (double)dout[n * OC + o] * w[o * C + k]; s += t; mag += Math.Abs(t); }
                    AssertClose(s, mag, dinp[n * C + k], $"dinp[{n},{k}] N={N} C={C} OC={OC}");
                }
        if (dw is not null)
            foreach (int o in Sampled(OC, stride))
                for (int k = 0; k < C; k++)
                {
                    double s = dw0![o * C + k], mag = Math.Abs(s);
                    for (int n = 0; n < N; n++) { double t = (double)dout[n * OC + o] * inp[n * C + k]; s += t; mag += Math.Abs(t); }
                    AssertClose(s, mag, dw[o * C + k], $"dweight[{o},{k}] N={N} C={C} OC={OC}");
                }
        if (db is not null)
            for (int o = 0; o < OC; o++)
            {
                double s = db0![o], mag = Math.Abs(s);
                for (int n = 0; n < N; n++) { s += dout[n * OC + o]; mag += Math.Abs(dout[n * OC + o]); }
                AssertClose(s, mag, db[o], $"dbias[{o}] N={N} OC={OC}");
            }
    }

    [Theory]
    [MemberData(nameof(Grid))]
    public void Forward_SampledGrid_MatchesDoubleReference(int N, int C, int OC, string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        var inp = Random(N * C, 1); var w = Random(OC * C, 2); var b = Random(OC, 3);
        var outp = Random(N * OC, 4); // stale values must be overwritten
        Matmul.Forward(inp, w, b, outp, N, C, OC, isa, 2);
        CheckForward(inp, w, b, outp, N, C, OC);
        var noBias = Random(N * OC, 5);
        Matmul.Forward(inp, w, default, noBias, N, C, OC, isa, 2);
        CheckForward(inp, w, null, noBias, N, C, OC);
    }

    [Theory]
    [MemberData(nameof(Grid))]
    public void Backward_SampledGrid_AccumulatesDoubleReference(int N, int C, int OC, string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        var inp = Random(N * C, 6); var w = Random(OC * C, 7); var dout = Random(N * OC, 8);
        var dinp0 = Random(N * C, 9); var dw0 = Random(OC * C, 10); var db0 = Random(OC, 11);
        var dinp = (float[])dinp0.Clone(); var dw = (float[])dw0.Clone(); var db = (float[])db0.Clone();
        Matmul.Backward(dout, inp, w, dinp, dw, db, N, C, OC, isa, 2);
        CheckBackward(dout, inp, w, dinp0, dinp, dw0, dw, db0, db, N, C, OC);
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void Backward_EmptyOutputs_SkippedAndOthersStillAccumulate(string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        const int N = 37, C = 45, OC = 29;
        var inp = Random(N * C, 12); var w = Random(OC * C, 13); var dout = Random(N * OC, 14);
        var dinp0 = Random(N * C, 15); var dw0 = Random(OC * C, 16); var db0 = Random(OC, 17);
        // Only dweight (frozen input, no bias): the weights' gradient is still right.
        var dw = (float[])dw0.Clone();
        Matmul.Backward(dout, inp, w, default, dw, default, N, C, OC, isa, 2);
        CheckBackward(dout, inp, w, null, null, dw0, dw, null, null, N, C, OC);
        // Only dinp (frozen weights, LoRA): inp may even be empty then.
        var dinp = (float[])dinp0.Clone();
        Matmul.Backward(dout, default, w, dinp, default, default, N, C, OC, isa, 2);
        CheckBackward(dout, inp, w, dinp0, dinp, null, null, null, null, N, C, OC);
        // Only dbias.
        var db = (float[])db0.Clone();
        Matmul.Backward(dout, default, default, default, default, db, N, C, OC, isa, 2);
        CheckBackward(dout, inp, w, null, null, null, null, db0, db, N, C, OC);
    }

    [Fact]
    public void Backward_CalledTwice_AddsTwice()
    {
        const int N = 20, C = 40, OC = 36;
        var inp = Random(N * C, 18); var w = Random(OC * C, 19); var dout = Random(N * OC, 20);
        var once = new float[OC * C]; var twice = new float[OC * C];
        Matmul.Backward(dout, inp, w, default, once, default, N, C, OC);
        Matmul.Backward(dout, inp, w, default, twice, default, N, C, OC);
        Matmul.Backward(dout, inp, w, default, twice, default, N, C, OC);
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], twice[i], 1e-4f * Math.Max(1, Math.Abs(twice[i])));
    }

    // Few rows take the GEMV path (weights streamed once, split over output channels); C ≥ 2048 reads rows one at a time.
    [Theory]
    [MemberData(nameof(AllPaths))]
    public void Forward_FewRowsGemv_MatchesDoubleReference(string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        foreach (int N in new[] { 1, 2, 3, 4, 5, 8, 9, Matmul.GemvMaxRows, Matmul.GemvMaxRows + 1 })
            foreach (var (C, OC) in new[] { (1, 1), (7, 5), (16, 17), (33, 63), (65, 257), (257, 1030), (768, 3), (2049, 9), (3072, 70) })
            {
                var inp = Random(N * C, 21); var w = Random(OC * C, 22); var b = Random(OC, 23); var outp = Random(N * OC, 24);
                Matmul.Forward(inp, w, b, outp, N, C, OC, isa, 2);
                CheckForward(inp, w, b, outp, N, C, OC);
            }
    }

    // A row's outputs are the same bits whether it is decoded alone or with others (four rows per pass or one at a time):
    // batched decoding and the server's continuous batching give each sequence exactly its batch-1 logits.
    [Theory]
    [MemberData(nameof(AllPaths))]
    public void Forward_GemvRows_AreBitIdenticalAloneAndBatched(string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        foreach (var (C, OC) in new[] { (7, 5), (33, 63), (97, 130) })
        {
            int N = Matmul.GemvMaxRows;
            var inp = Random(N * C, 41); var w = Random(OC * C, 42); var b = Random(OC, 43);
            var all = new float[N * OC];
            Matmul.Forward(inp, w, b, all, N, C, OC, isa, 2);
            for (int n = 0; n < N; n++)
            {
                var one = new float[OC];
                Matmul.Forward(inp.AsSpan(n * C, C), w, b, one, 1, C, OC, isa, 1);
                Assert.True(one.AsSpan().SequenceEqual(all.AsSpan(n * OC, OC)), $"row {n} of {N} (C {C}, OC {OC}) differs from the same row alone");
            }
        }
    }

    // Shapes past every cache block edge (MC = 256 rows, KC = 256, NC = 1024 columns) and through odd remainders;
    // 4100 outputs split into several column (forward) or row (weight gradient) tasks per thread.
    [Theory]
    [MemberData(nameof(AllPaths))]
    public void ForwardBackward_LargeOddShapes_MatchDoubleReference(string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        foreach (var (N, C, OC) in new[] { (97, 1000, 70), (261, 520, 1100), (40, 8, 4100) })
        {
            var inp = Random(N * C, 25); var w = Random(OC * C, 26); var b = Random(OC, 27); var dout = Random(N * OC, 28);
            var outp = new float[N * OC];
            Matmul.Forward(inp, w, b, outp, N, C, OC, isa, 2);
            CheckForward(inp, w, b, outp, N, C, OC, stride: 7);
            var dinp0 = Random(N * C, 29); var dw0 = Random(OC * C, 30); var db0 = Random(OC, 31);
            var dinp = (float[])dinp0.Clone(); var dw = (float[])dw0.Clone(); var db = (float[])db0.Clone();
            Matmul.Backward(dout, inp, w, dinp, dw, db, N, C, OC, isa, 2);
            CheckBackward(dout, inp, w, dinp0, dinp, dw0, dw, db0, db, N, C, OC, stride: 7);
        }
    }

    [Theory]
    [MemberData(nameof(AllPaths))]
    public void ForwardBackward_OneTwoThreeThreadsAndReruns_BitIdentical(string path)
    {
        var isa = Enum.Parse<GemmIsa>(path);
        foreach (var (N, C, OC) in new[] { (261, 520, 1100), (3, 700, 2000), (128, 300, 77), (40, 8, 4100), (2100, 24, 40), (100, 530, 2100) })
        {
            var inp = Random(N * C, 32); var w = Random(OC * C, 33); var b = Random(OC, 34); var dout = Random(N * OC, 35);
            (float[] Out, float[] Dinp, float[] Dw, float[] Db) Run(int threads)
            {
                var o = new float[N * OC]; var di = Random(N * C, 36); var dw = Random(OC * C, 37); var db = Random(OC, 38);
                Matmul.Forward(inp, w, b, o, N, C, OC, isa, threads);
                Matmul.Backward(dout, inp, w, di, dw, db, N, C, OC, isa, threads);
                return (o, di, dw, db);
            }
            var one = Run(1);
            foreach (int threads in new[] { 2, 3, 2 })
            {
                var r = Run(threads);
                Assert.True(one.Out.AsSpan().SequenceEqual(r.Out), $"forward differs between 1 and {threads} threads ({N}x{C}x{OC})");
                Assert.True(one.Dinp.AsSpan().SequenceEqual(r.Dinp), $"dinp differs between 1 and {threads} threads ({N}x{C}x{OC})");
                Assert.True(one.Dw.AsSpan().SequenceEqual(r.Dw), $"dweight differs between 1 and {threads} threads ({N}x{C}x{OC})");
                Assert.True(one.Db.AsSpan().SequenceEqual(r.Db), $"dbias differs between 1 and {threads} threads ({N}x{C}x{OC})");
            }
        }
    }

    // Back-to-back parallel calls reuse one job per calling thread: a helper of one call must never run into the next.
    [Fact]
    public void ForwardBackward_ManyBackToBackParallelCalls_AllBitIdentical()
    {
        const int N = 64, C = 136, OC = 160; // just above the size that goes parallel
        var inp = Random(N * C, 43); var w = Random(OC * C, 44); var b = Random(OC, 45);
        var want = new float[N * OC]; var got = new float[N * OC];
        var wantDw = new float[OC * C]; var gotDw = new float[OC * C];
        Matmul.Forward(inp, w, b, want, N, C, OC, GemmIsa.Auto, 1);
        Matmul.Backward(want, inp, w, default, wantDw, default, N, C, OC, GemmIsa.Auto, 1);
        for (int i = 0; i < 300; i++)
        {
            Array.Clear(got); Array.Clear(gotDw);
            Matmul.Forward(inp, w, b, got, N, C, OC, GemmIsa.Auto, 2);
            Matmul.Backward(got, inp, w, default, gotDw, default, N, C, OC, GemmIsa.Auto, 2);
            Assert.True(want.AsSpan().SequenceEqual(got), $"forward differs on call {i}");
            Assert.True(wantDw.AsSpan().SequenceEqual(gotDw), $"dweight differs on call {i}");
        }
    }

    // Packing buffers and the parallel job are per thread and reused: after the first call, a call allocates nothing
    // on the calling thread (BenchmarkDotNet's GemmBenchmarks shows the whole-process figure).
    [Fact]
    public void ForwardBackward_SteadyState_AllocateNothing()
    {
        const int N = 40, C = 200, OC = 260;
        var inp = Random(N * C, 39); var w = Random(OC * C, 40); var b = Random(OC, 41); var outp = new float[N * OC];
        var dinp = new float[N * C]; var dw = new float[OC * C]; var db = new float[OC];
        var x1 = Random(C, 42); var y1 = new float[OC];
        void Step()
        {
            Matmul.Forward(inp, w, b, outp, N, C, OC);
            Matmul.Backward(outp, inp, w, dinp, dw, db, N, C, OC);
            Matmul.Forward(x1, w, b, y1, 1, C, OC);
        }
        // Past the JIT's tier-up (30 calls) so call-counting and re-jitting are over before measuring.
        // On a loaded machine the background tier-up can land inside a measured window (a one-off allocation by the
        // runtime); a real per-step allocation shows in every window, so the smallest of five windows must be zero.
        for (int i = 0; i < 40; i++) Step();
        long least = long.MaxValue;
        for (int attempt = 0; attempt < 5 && least > 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 3; i++) Step();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
    }

    [Fact]
    public void Forward_BuffersTooSmall_ThrowsWithSizes()
    {
        var e = Assert.Throws<ArgumentException>(() => Matmul.Forward(new float[5], new float[6], default, new float[6], 2, 3, 2));
        Assert.Contains("N=2, C=3, OC=2", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Matmul.Forward(default, default, default, default, -1, 3, 2));
        Assert.Throws<ArgumentException>(() => Matmul.Backward(new float[4], new float[6], new float[6], default, new float[5], default, 2, 3, 2));
    }

    // The JIT's own choice with AVX-512 (or AVX2) switched off, in a child process: `bench gemm --verify` checks every
    // product against a double reference and 1 vs 2 threads, and names the path it ran. .NET 10 reads
    // DOTNET_EnableAVX512 (DOTNET_EnableAVX512F alone no longer turns Vector512 off), so both are set.
    [Theory]
    [InlineData("DOTNET_EnableAVX512F,DOTNET_EnableAVX512", "Vector256")]
    [InlineData("DOTNET_EnableAVX2", "Scalar")]
    public async Task BenchGemmVerify_IsaDisabledInChildProcess_PassesOnFallbackPath(string variables, string expectedPath)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "NextToken.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in new[] { "bench", "gemm", "--verify" }) psi.ArgumentList.Add(a);
        foreach (var v in variables.Split(',')) psi.Environment[v] = "0";
        // The child inherits this process's variables: when the suite itself runs with AVX2 off (the documented
        // re-run of the kernel tests), the AVX-512-off child lands on the scalar path too.
        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0" || Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0")
            expectedPath = "Scalar";
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(timeout.Token);
        string stdout = await so, stderr = await se;
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {stdout} {stderr}");
        Assert.Contains($"verify {expectedPath}: all", stdout);
    }
}
