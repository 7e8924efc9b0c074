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
    public void AdamW_ParameterGroups_ScaleTheLearningRateAndOverrideDecay()
    {
        var layout = new TensorLayout();
        layout.Add("a", TensorKind.Matrix, 2);
        layout.Add("b", TensorKind.Matrix, 2);
        layout.Add("c", TensorKind.Bias, 2);
        var p = new float[layout.Size];
        var g = new float[layout.Size];
        foreach (var s in layout.Slots) for (int i = 0; i < 2; i++) { p[s.Offset + i] = 1f; g[s.Offset + i] = -0.25f; }
        var groups = new[]
        {
            new ParameterGroup("slow, no decay", s => s.Name == "a") { LearningRateScale = 0.5f, WeightDecay = 0f },
            new ParameterGroup("decayed bias", s => s.Name == "c") { WeightDecay = 0.2f },
        };
        var opt = new AdamW(layout, layout, new AdamWOptions { WeightDecay = 0.1f }, groups);
        opt.Update(p, g, 0.01f);
        // Step 1: the Adam term is g/|g| = -1, so p = 1 + lr·scale − lr·scale·wd·1.
        Assert.Equal(1f + 0.005f, p[layout["a"].Offset], 6);
        Assert.Equal(1f + 0.01f - 0.01f * 0.1f, p[layout["b"].Offset], 6);
        Assert.Equal(1f + 0.01f - 0.01f * 0.2f, p[layout["c"].Offset], 6);
    }

    [Fact]
    public void AdamW_OverAGradientLayout_UpdatesOnlyThoseTensorsAtTheirParameterOffsets()
    {
        var parameters = new TensorLayout();
        parameters.Add("frozen", TensorKind.Matrix, 20);
        parameters.Add("trained", TensorKind.Matrix, 3);
        var gradients = new TensorLayout();
        gradients.Add("trained", TensorKind.Matrix, 3);
        var p = Enumerable.Repeat(1f, (int)parameters.Size).ToArray();
        var g = new float[gradients.Size];
        g.AsSpan().Fill(0.5f);
        var opt = new AdamW(parameters, gradients, new AdamWOptions { WeightDecay = 0f });
        Assert.Equal(gradients.Size, opt.M.Length);
        opt.Update(p, g, 0.1f);
        long t = parameters["trained"].Offset;
        for (int i = 0; i < 20; i++) Assert.Equal(1f, p[i]);
        for (int i = 0; i < 3; i++) Assert.Equal(0.9f, p[t + i], 5);
    }

    [Fact]
    public void AdamW_ClearGradients_SameUpdateAndLeavesGradientsZero()
    {
        var layout = new TensorLayout();
        layout.Add("a", TensorKind.Matrix, 3, 7);     // 21: a Vector512 and a scalar tail
        layout.Add("b", TensorKind.Bias, 1);
        layout.Add("c", TensorKind.Embedding, 70001); // crosses the 32768-float chunks
        var rng = new Rng(5);
        var p0 = new float[layout.Size]; rng.FillNormal(p0, 0f, 1f);
        // Gradients inside the tensors only: the arena's alignment padding is never written by a backward pass.
        var g0 = new float[layout.Size];
        foreach (var slot in layout.Slots) rng.FillNormal(g0.AsSpan((int)slot.Offset, (int)slot.Length), 0f, 1f);
        var pa = (float[])p0.Clone(); var ga = (float[])g0.Clone();
        var pb = (float[])p0.Clone(); var gb = (float[])g0.Clone();
        var keep = new AdamW(layout, new AdamWOptions { WeightDecay = 0.1f });
        var clear = new AdamW(layout, new AdamWOptions { WeightDecay = 0.1f });
        for (int step = 0; step < 2; step++)
        {
            keep.Update(pa, ga, 1e-3f, 0.7f);
            clear.Update(pb, gb, 1e-3f, 0.7f, clearGradients: true);
            Assert.Equal(g0, ga);                        // kept as given
            Assert.All(gb, x => Assert.Equal(0f, x));    // every element cleared, tails and chunk edges included
            Assert.Equal(pa, pb);                        // and the update is bit for bit the same
            Assert.Equal(keep.M, clear.M);
            Assert.Equal(keep.V, clear.V);
            g0.CopyTo(gb, 0);
        }
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
