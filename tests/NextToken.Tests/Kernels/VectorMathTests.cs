// The vectorised exp used by the softmax kernels against Math.Exp in double, over sizes straddling the vector widths
// and arguments from underflow to overflow's edge.
using NextToken.Kernels;

namespace NextToken.Tests.Kernels;

public sealed unsafe class VectorMathTests
{
    public static TheoryData<int> Sizes() => new() { 0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 257 };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void ExpScaled_MatchesMathExpAndSum(int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -100f + 190f * ((i * 37) % 101) / 100f; // -100 .. 90
        var e = (float[])x.Clone();
        const float scale = 0.9f, shift = 5f;
        float sum;
        fixed (float* p = e) sum = VectorMath.ExpScaled(p, n, scale, shift);
        double expectedSum = 0;
        for (int i = 0; i < n; i++)
        {
            double arg = (double)x[i] * scale - shift, want = Math.Exp(arg);
            expectedSum += want;
            // Relative 1e-6 plus the float rounding of the argument (|arg| ulps); below exp(-87) the kernel flushes to 0.
            Assert.True(Math.Abs(e[i] - want) <= (1e-6 + 2e-7 * Math.Abs(arg)) * want + 1e-37, $"exp({x[i]} * {scale} - {shift}) = {e[i]}, expected {want}");
        }
        Assert.True(Math.Abs(sum - expectedSum) <= 3e-5 * expectedSum + 1e-37, $"sum {sum}, expected {expectedSum}");
    }
}
