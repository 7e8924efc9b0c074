// The public thread-count setting: validated, obeyed by the kernels' defaults, and results bit-identical across counts.
using NextToken.Kernels;
using NextToken.Model;

namespace NextToken.Tests.Kernels;

[Collection("Allocation")] // Threading.MaxThreads is process-wide
public sealed class ThreadingTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void MaxThreads_BelowOne_Throws(int value)
    {
        int saved = Threading.MaxThreads;
        Assert.Throws<ArgumentOutOfRangeException>(() => Threading.MaxThreads = value);
        Assert.Equal(saved, Threading.MaxThreads);
    }

    [Fact]
    public void MaxThreads_DefaultsToOnePerCore_AndDrivesEveryKernelLoop()
    {
        int saved = Threading.MaxThreads;
        try
        {
            Assert.Equal(Environment.ProcessorCount, saved);
            Threading.MaxThreads = 1;
            Assert.Equal(1, Gemm.DefaultThreads);
            Assert.Equal(1, ParallelRows.MaxThreads);
        }
        finally { Threading.MaxThreads = saved; }
    }

    [Fact]
    public void ForwardBackward_OneAndTwoThreads_BitIdentical()
    {
        // Big enough that the products split across threads (over 2^20 multiply-adds) and the row loops have many rows.
        var cfg = new GptConfig { VocabSize = 67, ContextLength = 64, Layers = 2, Heads = 4, EmbeddingSize = 96 };
        const int B = 4, T = 64;
        var inputs = new int[B * T];
        var targets = new int[B * T];
        for (int i = 0; i < inputs.Length; i++) { inputs[i] = (i * 7 + 3) % 67; targets[i] = (i * 11 + 1) % 67; }
        (float Loss, float[] Gradients, float[] Logits) Run()
        {
            var model = new GptModel(cfg, seed: 5);
            model.EnableGradients();
            model.ZeroGradients();
            float loss = model.Forward(inputs, targets, B, T, computeGradients: true);
            model.Backward();
            var logits = new float[B * T * cfg.VocabSize];
            model.ForwardLogits(inputs, B, T, logits);
            return (loss, model.Gradients!.ToArray(), logits);
        }
        int saved = Threading.MaxThreads;
        try
        {
            Threading.MaxThreads = 1;
            var one = Run();
            Threading.MaxThreads = 2;
            var two = Run();
            Assert.Equal(one.Loss, two.Loss);
            Assert.True(one.Gradients.AsSpan().SequenceEqual(two.Gradients), "gradients differ between 1 and 2 threads");
            Assert.True(one.Logits.AsSpan().SequenceEqual(two.Logits), "logits differ between 1 and 2 threads");
        }
        finally { Threading.MaxThreads = saved; }
    }
}
