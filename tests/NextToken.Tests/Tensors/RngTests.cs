// Tests of the seeded PCG32 generator.
using NextToken.Tensors;

namespace NextToken.Tests.Tensors;

public sealed class RngTests
{
    [Fact]
    public void NextUInt_SameSeed_SameSequence()
    {
        var a = new Rng(42); var b = new Rng(42); var c = new Rng(43);
        for (int i = 0; i < 100; i++) Assert.Equal(a.NextUInt(), b.NextUInt());
        Assert.NotEqual(new Rng(42).NextUInt(), c.NextUInt());
    }

    [Fact]
    public void NextGaussian_ManySamples_MeanZeroVarianceOne()
    {
        var r = new Rng(7);
        double s = 0, s2 = 0; const int n = 200_000;
        for (int i = 0; i < n; i++) { double x = r.NextGaussian(); s += x; s2 += x * x; }
        Assert.InRange(s / n, -0.01, 0.01);
        Assert.InRange(s2 / n, 0.98, 1.02);
    }

    [Fact]
    public void NextInt_SmallRange_Uniform()
    {
        var r = new Rng(1);
        var counts = new int[7];
        for (int i = 0; i < 70_000; i++) counts[r.NextInt(7)]++;
        foreach (int c in counts) Assert.InRange(c, 9_500, 10_500);
    }
}
