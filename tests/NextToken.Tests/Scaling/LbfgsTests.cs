// L-BFGS on functions whose minima are known; Huber's loss and derivative.
using NextToken.Scaling;

namespace NextToken.Tests.Scaling;

public sealed class LbfgsTests
{
    [Fact]
    public void Minimize_Rosenbrock_FindsOneOne()
    {
        var r = Lbfgs.Minimize((x, g) =>
        {
            double a = 1 - x[0], b = x[1] - x[0] * x[0];
            g[0] = -2 * a - 400 * x[0] * b;
            g[1] = 200 * b;
            return a * a + 100 * b * b;
        }, [-1.2, 1.0], maxIterations: 2000);
        Assert.Equal(1.0, r.X[0], 5);
        Assert.Equal(1.0, r.X[1], 5);
        Assert.True(r.Value < 1e-10);
    }

    [Fact]
    public void Minimize_IllConditionedQuadratic_FindsTheCentre()
    {
        double[] scale = [1, 10, 100, 1000, 1e4], centre = [3, -2, 0.5, 7, -1];
        var r = Lbfgs.Minimize((x, g) =>
        {
            double f = 0;
            for (int i = 0; i < x.Length; i++) { f += 0.5 * scale[i] * (x[i] - centre[i]) * (x[i] - centre[i]); g[i] = scale[i] * (x[i] - centre[i]); }
            return f;
        }, new double[5]);
        for (int i = 0; i < 5; i++) Assert.Equal(centre[i], r.X[i], 6);
        Assert.True(r.Converged);
    }

    [Fact]
    public void Minimize_NumericGradient_FindsTheMinimumOfASmoothFunction()
    {
        // f = (x − 2)⁴ + (x − 2y)² has its minimum 0 at (2, 1); the quartic makes it flat near there.
        var r = Lbfgs.Minimize(Lbfgs.WithNumericGradient(x => Math.Pow(x[0] - 2, 4) + Math.Pow(x[0] - 2 * x[1], 2)), [0.0, 3.0], maxIterations: 5000);
        Assert.Equal(2.0, r.X[0], 1);
        Assert.Equal(1.0, r.X[1], 1);
        Assert.True(r.Value < 1e-6);
    }

    [Fact]
    public void Huber_IsQuadraticInsideDeltaAndLinearOutside()
    {
        Assert.Equal(0.5 * 0.0005 * 0.0005, Huber.Loss(0.0005, 1e-3), 15);
        Assert.Equal(1e-3 * (0.01 - 0.5e-3), Huber.Loss(-0.01, 1e-3), 15);
        Assert.Equal(-1e-3, Huber.Derivative(-0.5, 1e-3));
        Assert.Equal(0.0002, Huber.Derivative(0.0002, 1e-3));
    }
}
