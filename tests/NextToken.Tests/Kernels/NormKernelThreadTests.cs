// RMSNorm, SwiGLU and frozen-gain LayerNorm: bit-identical results on one and two threads, and no allocation in steady
// state. Runs alone: it changes ParallelRows.MaxThreads and measures process-wide allocations.
using NextToken.Kernels;
using NextToken.Tensors;

namespace NextToken.Tests.Kernels;

[Collection("Allocation")] // changes ParallelRows.MaxThreads, which is process-wide
public sealed class NormKernelThreadTests
{
    // 70 rows (9 row blocks), 200 columns (4 column blocks with a tail); SwiGLU F = 5000 gives 3 rows per work item.
    private const int N = 70, C = 200, F = 5000, NF = 20;

    private static float[] Random(int n, ulong seed)
    {
        var a = new float[n];
        new Rng(seed).FillNormal(a, 0f, 1f);
        return a;
    }

    private sealed class Buffers
    {
        public readonly float[] X = Random(N * C, 1), W = Random(C, 2), B = Random(C, 3), Dout = Random(N * C, 4);
        public readonly float[] G = Random(NF * 2 * F, 5), Dg = Random(NF * F, 6);
        public readonly float[] Y = new float[N * C], Rstd = new float[N], Mean = new float[N], Dx = new float[N * C], Dw = new float[C], Db = new float[C];
        public readonly float[] Yg = new float[NF * F], Dgi = new float[NF * 2 * F], DxFrozen = new float[N * C];

        public void Run()
        {
            RmsNorm.Forward(X, W, Y, Rstd, N, C, 1e-5f);
            RmsNorm.Backward(Dout, X, W, Rstd, Dx, Dw, N, C);
            RmsNorm.Backward(Dout, X, W, Rstd, DxFrozen, default, N, C);
            LayerNorm.Forward(X, W, B, Y, Mean, Rstd, N, C, 1e-5f);
            LayerNorm.Backward(Dout, X, W, Mean, Rstd, Dx, Dw, Db, N, C);
            LayerNorm.Backward(Dout, X, W, Mean, Rstd, DxFrozen, default, default, N, C);
            SwiGlu.Forward(G, Yg, NF, F);
            SwiGlu.Backward(G, Dg, Dgi, NF, F);
        }

        public float[][] Outputs() => [Y, Rstd, Mean, Dx, Dw, Db, Yg, Dgi, DxFrozen];
    }

    [Fact]
    public void ForwardBackward_OneAndTwoThreads_BitIdentical()
    {
        int saved = ParallelRows.MaxThreads;
        try
        {
            ParallelRows.MaxThreads = 1;
            var one = new Buffers();
            one.Run(); one.Run(); // twice: the second accumulates onto the first's gradients
            ParallelRows.MaxThreads = 2;
            var two = new Buffers();
            two.Run(); two.Run();
            var a = one.Outputs(); var b = two.Outputs();
            for (int i = 0; i < a.Length; i++)
                Assert.True(a[i].AsSpan().SequenceEqual(b[i]), $"output {i} differs between 1 and 2 threads");
        }
        finally { ParallelRows.MaxThreads = saved; }
    }

    [Fact]
    public void ForwardBackward_SteadyState_AllocateNothingInAnyThread()
    {
        var buffers = new Buffers();
        for (int i = 0; i < 40; i++) buffers.Run(); // past the JIT's tier-up
        // The quietest of a few windows (the test runner's own threads may allocate meanwhile; see AllocationTests).
        long bytes = long.MaxValue;
        for (int window = 0; window < 5 && bytes >= 2048; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 10; i++) buffers.Run();
            bytes = Math.Min(bytes, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        Assert.True(bytes < 2048, $"80 kernel calls allocated {bytes} bytes");
    }
}
