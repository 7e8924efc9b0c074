// Tests of the learning-rate schedule, AdamW and gradient clipping against hand-computed values.
using NextToken.Tensors;
using NextToken.Training;

namespace NextToken.Tests.Training;

public sealed class OptimizerTests
{
    [Fact]
    public void Schedule_WarmupCosineFloor_MatchesFormula()
    {
        Assert.Equal(0.1f, LearningRateSchedule.At(0, 1f, 0.1f, 10, 110), 6);
        Assert.Equal(1f, LearningRateSchedule.At(9, 1f, 0.1f, 10, 110), 6);
        Assert.Equal(1f, LearningRateSchedule.At(10, 1f, 0.1f, 10, 110), 6);
        Assert.Equal(0.55f, LearningRateSchedule.At(60, 1f, 0.1f, 10, 110), 5);
        Assert.Equal(0.1f, LearningRateSchedule.At(110, 1f, 0.1f, 10, 110), 6);
        Assert.Equal(0.1f, LearningRateSchedule.At(500, 1f, 0.1f, 10, 110), 6);
    }

    [Fact]
    public void AdamW_OneStep_MatchesHandComputedAndDecaysMatricesOnly()
    {
        var layout = new TensorLayout();
        layout.Add("w", TensorKind.Matrix, 1, 2);
        layout.Add("b", TensorKind.Bias, 2);
        var p = new float[layout.Size];
        var g = new float[layout.Size];
        long w = layout["w"].Offset, b = layout["b"].Offset;
        p[w] = 1f; g[w] = 0.5f; p[b] = 1f; g[b] = 0.5f;
        var opt = new AdamW(layout, new AdamWOptions { Beta1 = 0.9f, Beta2 = 0.99f, WeightDecay = 0.1f, Epsilon = 1e-8f });
        opt.Update(p, g, 0.01f);
        // Step 1: m̂ = g, v̂ = g², so the Adam term is g/|g| = 1; decay adds lr·wd·p for matrices only.
        Assert.Equal(1f - 0.01f * (1f + 0.1f), p[w], 5);
        Assert.Equal(1f - 0.01f, p[b], 5);
    }

    [Fact]
    public void ClipGlobalNorm_AboveBound_ScalesToBound()
    {
        var g = new float[] { 3, 4 };
        Assert.Equal(5f, GradientClipping.ClipGlobalNorm(g, 1f), 5);
        Assert.Equal(0.6f, g[0], 4);
        Assert.Equal(0.8f, g[1], 4);
        var h = new float[] { 0.3f, 0.4f };
        GradientClipping.ClipGlobalNorm(h, 1f);
        Assert.Equal(0.3f, h[0]);
    }
}
