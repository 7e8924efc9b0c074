// Plans from the published constants against values computed by hand (Python, double precision).
using NextToken.Scaling;

namespace NextToken.Tests.Scaling;

public sealed class ParametricLawTests
{
    // G = (αA/(βB))^(1/(α+β)), N = G·(C/6)^(β/(α+β)), D = C/(6N), L = E + A/N^α + B/D^β; computed in Python 3.
    [Theory]
    [InlineData("chinchilla", 1e21, 1824217696.8955524, 91363364663.27426, 2.328882940154319)]
    [InlineData("chinchilla", 5.76e23, 32189859151.368168, 2982305686662.804, 1.930748101731648)]
    [InlineData("epoch", 1e21, 2778459463.0676327, 59985279210.31962, 2.305528571261457)]
    [InlineData("epoch", 5.76e23, 72248702500.38242, 1328743585388.151, 1.974441108397412)]
    public void Optimal_PublishedConstants_MatchHandComputedValues(string law, double flops, double n, double d, double loss)
    {
        var o = ParametricLaw.Get(law).Optimal(flops);
        Assert.Equal(1, o.Parameters / n, 10);
        Assert.Equal(1, o.Tokens / d, 10);
        Assert.Equal(loss, o.Loss, 10);
        Assert.Equal(flops, 6 * o.Parameters * o.Tokens, flops * 1e-12);
    }

    [Fact]
    public void Optimal_IsTheMinimumOfTheLossAlongTheIsoFlopCurve()
    {
        var law = ParametricLaw.Chinchilla;
        var o = law.Optimal(1e22);
        foreach (double f in new[] { 0.8, 0.95, 1.05, 1.25 })
        {
            double n = o.Parameters * f;
            Assert.True(law.Loss(n, 1e22 / (6 * n)) > o.Loss);
        }
        var back = law.OptimalForParameters(o.Parameters);
        Assert.Equal(1, back.Flops / 1e22, 9);
    }

    [Fact]
    public void Get_UnknownNameOrBadFile_Throws()
    {
        Assert.Contains("unknown law 'gopher'", Assert.Throws<ArgumentException>(() => ParametricLaw.Get("gopher")).Message);
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "{\"E\": 1.5, \"A\": 100}\n");
            Assert.Throws<InvalidDataException>(() => ParametricLaw.Get(path));
            File.WriteAllText(path, "noise\n{\"law\":\"chinchilla\",\"E\": 1.5, \"A\": 100, \"B\": 200, \"alpha\": 0.3, \"beta\": 0.3}\n");
            Assert.Equal(new ParametricLaw(1.5, 100, 200, 0.3, 0.3), ParametricLaw.Get(path));
        }
        finally { File.Delete(path); }
    }
}
