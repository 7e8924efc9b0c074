// Steady-state training and generation steps allocate nothing on the calling thread (matrix products included), on
// one thread and on two.
using NextToken.Kernels;
using NextToken.Model;
using NextToken.Training;

namespace NextToken.Tests.Model;

[Collection("Allocation")] // changes ParallelRows.MaxThreads, which is process-wide
public sealed class AllocationTests
{
    private static readonly GptConfig Small = new() { VocabSize = 67, ContextLength = 64, Layers = 2, Heads = 3, EmbeddingSize = 48 };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TrainingStep_SteadyState_AllocatesNothing(int threads)
    {
        int saved = ParallelRows.MaxThreads;
        ParallelRows.MaxThreads = threads;
        try
        {
            var model = new GptModel(Small, seed: 3);
            model.EnableGradients();
            var opt = new AdamW(model.Layout, new AdamWOptions());
            const int B = 2, T = 32;
            var inputs = new int[B * T]; var targets = new int[B * T];
            for (int i = 0; i < inputs.Length; i++) { inputs[i] = (i * 7) % 67; targets[i] = (i * 5 + 1) % 67; }
            void Step()
            {
                model.ZeroGradients();
                model.Forward(inputs, targets, B, T, computeGradients: true);
                model.Backward();
                float norm = GradientClipping.GlobalNorm(model.Gradients!);
                opt.Update(model.Parameters, model.Gradients!, 1e-3f, GradientClipping.ClipScale(norm, 1f));
            }
            for (int i = 0; i < 20; i++) Step(); // JIT, thread-local buffers, pooled jobs
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 3; i++) Step();
            long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(bytes == 0, $"3 training steps allocated {bytes} bytes on {threads} thread(s)");
        }
        finally { ParallelRows.MaxThreads = saved; }
    }

    [Fact]
    public void Kernels_SteadyState_AllocateNothingInAnyThread()
    {
        // One thread per kernel loop would hide worker allocations; the total over all threads catches them.
        const int B = 2, T = 40, C = 48, NH = 3, N = B * T, V = 67;
        var qkv = new float[N * 3 * C]; var o = new float[N * C]; var s = new float[Attention.ScratchSize(B, T, NH)];
        var d = new float[N * 3 * C]; var x = new float[N * C]; var w = new float[C]; var mean = new float[N]; var rstd = new float[N];
        var logits = new float[N * V]; var targets = new int[N]; var losses = new float[N];
        for (int i = 0; i < qkv.Length; i++) qkv[i] = MathF.Sin(i);
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Cos(i);
        w.AsSpan().Fill(1f);
        void Run()
        {
            Attention.Forward(qkv, o, s, default, B, T, NH, NH, C / NH);
            Attention.Backward(o, qkv, o, s, default, d, B, T, NH, NH, C / NH);
            Attention.Decode(qkv.AsSpan(0, C), x, x, o, 1, T, NH, NH, C / NH);
            LayerNorm.Forward(x, w, w, o, mean, rstd, N, C, 1e-5f);
            LayerNorm.Backward(x, x, w, mean, rstd, o, w, w, N, C);
            Gelu.Forward(x, o, N * C);
            Gelu.Backward(x, x, o, N * C);
            Residual.Forward(x, o, o, N * C);
            CrossEntropy.ForwardBackward(logits, targets, losses, N, V, 0.5f);
            GradientClipping.GlobalNorm(qkv);
        }
        // Warm up past the JIT's tier-up (call counting and OSR allocate a little in the background), then take the
        // quietest of a few windows: the test runner's own threads may allocate meanwhile, but kernels allocating per
        // call would show in every window as kilobytes (closures, Parallel.For state, rented arrays) in 30 calls.
        for (int i = 0; i < 40; i++) Run();
        long bytes = long.MaxValue;
        for (int window = 0; window < 5 && bytes >= 2048; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 3; i++) Run();
            bytes = Math.Min(bytes, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        Assert.True(bytes < 2048, $"30 kernel calls allocated {bytes} bytes");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void DecodeStep_SteadyState_AllocatesNothing(int threads)
    {
        int saved = ParallelRows.MaxThreads;
        ParallelRows.MaxThreads = threads;
        try
        {
            var model = new GptModel(Small, seed: 4);
            var cache = model.CreateCache();
            var logits = new float[Small.VocabSize];
            int[] token = [5];
            for (int i = 0; i < 30; i++) model.Forward(cache, token, logits);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 8; i++) model.Forward(cache, token, logits);
            long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(bytes == 0, $"8 decode steps allocated {bytes} bytes on {threads} thread(s)");
        }
        finally { ParallelRows.MaxThreads = saved; }
    }
}
