// PolicyMath against hand-computed values, analytic KL and finite differences in double precision.
using NextToken.Alignment;

namespace NextToken.Tests.Alignment;

public sealed class PolicyMathTests
{
    [Fact]
    public void Gae_MatchesHandComputedValues()
    {
        // r = (0, 0, 1), V = (0.5, 0.2, 0.4), γ = 0.9, λ = 0.8.
        // δ2 = 1 − 0.4 = 0.6; δ1 = 0 + 0.9·0.4 − 0.2 = 0.16; δ0 = 0 + 0.9·0.2 − 0.5 = −0.32.
        // A2 = 0.6; A1 = 0.16 + 0.72·0.6 = 0.592; A0 = −0.32 + 0.72·0.592 = 0.10624.
        var adv = new float[3]; var ret = new float[3];
        PolicyMath.Gae([0f, 0f, 1f], [0.5f, 0.2f, 0.4f], 0.9f, 0.8f, adv, ret);
        Assert.Equal(0.10624, adv[0], 5); Assert.Equal(0.592, adv[1], 5); Assert.Equal(0.6, adv[2], 5);
        Assert.Equal(0.60624, ret[0], 5); Assert.Equal(0.792, ret[1], 5); Assert.Equal(1.0, ret[2], 5);
        // γ = λ = 1: the advantage is the return-to-go minus the value (Monte Carlo).
        PolicyMath.Gae([0.1f, -0.2f, 1f], [0.3f, 0.1f, 0.2f], 1f, 1f, adv, ret);
        Assert.Equal(0.9 - 0.3, adv[0], 5); Assert.Equal(0.8 - 0.1, adv[1], 5); Assert.Equal(1 - 0.2, adv[2], 5);
        Assert.Equal(0.9, ret[0], 5);
    }

    [Fact]
    public void Whiten_MatchesHandComputedValues_OverTheMaskOnly()
    {
        float[] x = [1f, 2f, 3f, 100f];
        PolicyMath.Whiten(x, [true, true, true, false]);
        // mean 2, population variance 2/3: (x − 2)/sqrt(2/3 + 1e-8).
        double s = Math.Sqrt(2.0 / 3 + 1e-8);
        Assert.Equal(-1 / s, x[0], 5); Assert.Equal(0, x[1], 6); Assert.Equal(1 / s, x[2], 5); Assert.Equal(0, x[3]);
        float[] y = [1f, 2f, 3f];
        PolicyMath.Whiten(y, default, shiftMean: false);
        Assert.Equal(2 - 1 / s, y[0], 5); Assert.Equal(2, y[1], 5);
    }

    [Fact]
    public void ClippedPolicyLoss_GradientMatchesFiniteDifferences_InsideAndOutsideTheClip()
    {
        // Ratios inside the interval, above it with A > 0 (clipped: flat), below it with A > 0 (unclipped: min picks ρA),
        // above it with A < 0 (unclipped), below it with A < 0 (clipped: flat).
        double[] logRatio = [0.05, 0.5, -0.5, 0.5, -0.5, -0.1];
        double[] a = [1.3, 0.7, 0.9, -1.1, -0.6, -2.0];
        double[] w = [0.5, 1, 1, 0.25, 1, 1];
        const float eps = 0.2f;
        var old = new float[6]; var logp = new float[6]; var adv = new float[6]; var wf = new float[6];
        for (int i = 0; i < 6; i++) { old[i] = -1.5f; logp[i] = (float)(-1.5 + logRatio[i]); adv[i] = (float)a[i]; wf[i] = (float)w[i]; }
        var d = new float[6];
        var (loss, clipped, _) = PolicyMath.ClippedPolicyLoss(logp, old, adv, wf, eps, d);
        Assert.Equal(4, clipped);
        double expected = 0;
        for (int i = 0; i < 6; i++)
        {
            double rho = Math.Exp(logRatio[i]);
            expected += w[i] * -Math.Min(rho * a[i], Math.Clamp(rho, 1 - eps, 1 + eps) * a[i]);
        }
        Assert.Equal(expected, loss, 5);
        for (int i = 0; i < 6; i++)
        {
            double h = 1e-4;
            double Loss(double lr)
            {
                double rho = Math.Exp(lr);
                return w[i] * -Math.Min(rho * a[i], Math.Clamp(rho, 1 - eps, 1 + eps) * a[i]);
            }
            double fd = (Loss(logRatio[i] + h) - Loss(logRatio[i] - h)) / (2 * h);
            Assert.True(Math.Abs(fd - d[i]) < 1e-4 * Math.Max(1, Math.Abs(fd)), $"token {i}: analytic {d[i]} vs finite difference {fd}");
        }
        Assert.Equal(0f, d[1]); Assert.Equal(0f, d[4]); // the clipped branches are flat
    }

    [Fact]
    public void ClippedValueLoss_GradientMatchesFiniteDifferences()
    {
        double[] v = [0.3, 1.5, -0.9, 0.25, 0.6];
        double[] old = [0.2, 1.0, -0.2, 0.5, 0.1];
        double[] ret = [1.0, 0.0, 1.0, 0.4, 2.0];
        const float clip = 0.2f;
        var vf = v.Select(x => (float)x).ToArray();
        var d = new float[5];
        double loss = PolicyMath.ClippedValueLoss(vf, old.Select(x => (float)x).ToArray(), ret.Select(x => (float)x).ToArray(), [1, 1, 1, 1, 0.5f], clip, d);
        double[] w = [1, 1, 1, 1, 0.5];
        double L(int i, double x)
        {
            double vc = Math.Clamp(x, old[i] - clip, old[i] + clip);
            return w[i] * 0.5 * Math.Max((x - ret[i]) * (x - ret[i]), (vc - ret[i]) * (vc - ret[i]));
        }
        Assert.Equal(Enumerable.Range(0, 5).Sum(i => L(i, v[i])), loss, 5);
        for (int i = 0; i < 5; i++)
        {
            double fd = (L(i, v[i] + 1e-5) - L(i, v[i] - 1e-5)) / 2e-5;
            Assert.True(Math.Abs(fd - d[i]) < 1e-4, $"value {i}: analytic {d[i]} vs finite difference {fd}");
        }
    }

    [Fact]
    public void KlEstimators_K1AndK3AreUnbiased_K2IsNot_AgainstTheAnalyticKl()
    {
        double[] p = [0.5, 0.3, 0.15, 0.05];
        double[] q = [0.25, 0.25, 0.25, 0.25];
        double kl = 0;
        for (int i = 0; i < 4; i++) kl += p[i] * Math.Log(p[i] / q[i]);
        double E(KlEstimator k) => Enumerable.Range(0, 4).Sum(i => p[i] * PolicyMath.Kl(k, Math.Log(p[i]), Math.Log(q[i])));
        Assert.Equal(kl, E(KlEstimator.K1), 12);
        Assert.Equal(kl, E(KlEstimator.K3), 12);
        Assert.NotEqual(kl, E(KlEstimator.K2), 3);
        for (int i = 0; i < 4; i++) Assert.True(PolicyMath.Kl(KlEstimator.K3, Math.Log(p[i]), Math.Log(q[i])) >= 0);
        // The exact KL of two rows of logits.
        var lp = p.Select(x => (float)Math.Log(x) + 3f).ToArray();
        var lq = q.Select(x => (float)Math.Log(x) - 1f).ToArray();
        Assert.Equal(kl, PolicyTraining.ExactKl(lp, lq), 6);
        // Gradients of each estimator in log π.
        foreach (var k in new[] { KlEstimator.K1, KlEstimator.K2, KlEstimator.K3 })
        {
            double x = -0.7, r = -1.2, h = 1e-6;
            double fd = (PolicyMath.Kl(k, x + h, r) - PolicyMath.Kl(k, x - h, r)) / (2 * h);
            Assert.Equal(fd, PolicyMath.KlGradient(k, x, r), 6);
        }
    }

    [Fact]
    public void BradleyTerry_LossAndGradient()
    {
        double l = PolicyMath.BradleyTerry(1.2, 0.2, out double d);
        Assert.Equal(Math.Log(1 + Math.Exp(-1.0)), l, 12);
        double fd = (PolicyMath.BradleyTerry(1.2 + 1e-6, 0.2, out _) - PolicyMath.BradleyTerry(1.2 - 1e-6, 0.2, out _)) / 2e-6;
        Assert.Equal(fd, d, 6);
        Assert.Equal(Math.Log(2), PolicyMath.BradleyTerry(0.3, 0.3, out _), 12);
        Assert.Equal(800, PolicyMath.BradleyTerry(-400, 400, out _), 6); // stable far out
    }

    [Theory]
    [InlineData(DpoLoss.Sigmoid)]
    [InlineData(DpoLoss.Ipo)]
    [InlineData(DpoLoss.Hinge)]
    public void Dpo_LossAndGradientsMatchTheirDefinitions(DpoLoss kind)
    {
        const double beta = 0.5, pc = -3.1, pr = -4.0, rc = -3.6, rr = -3.8;
        double loss = PolicyMath.Dpo(kind, beta, pc, pr, rc, rr, out double dc, out double dr, out double h);
        Assert.Equal(pc - rc - (pr - rr), h, 12); // 0.5 + 0.2 = 0.7
        double expected = kind switch
        {
            DpoLoss.Sigmoid => Math.Log(1 + Math.Exp(-beta * 0.7)),
            DpoLoss.Ipo => Math.Pow(0.7 - 1 / (2 * beta), 2),
            _ => Math.Max(0, 1 - beta * 0.7),
        };
        Assert.Equal(expected, loss, 10);
        double F(double c, double r) => PolicyMath.Dpo(kind, beta, c, r, rc, rr, out _, out _, out _);
        double e = 1e-6;
        Assert.Equal((F(pc + e, pr) - F(pc - e, pr)) / (2 * e), dc, 5);
        Assert.Equal((F(pc, pr + e) - F(pc, pr - e)) / (2 * e), dr, 5);
    }

    [Fact]
    public void GroupAdvantages_AreStandardisedWithinEachGroup()
    {
        var adv = new float[6];
        PolicyMath.GroupAdvantages([1f, 2f, 3f, 5f, 5f, 5f], 3, adv);
        double s = Math.Sqrt(2.0 / 3);
        Assert.Equal(-1 / (s + 1e-4), adv[0], 5); Assert.Equal(0, adv[1], 6); Assert.Equal(1 / (s + 1e-4), adv[2], 5);
        Assert.Equal([0f, 0f, 0f], adv[3..]);
        Assert.Throws<ArgumentException>(() => PolicyMath.GroupAdvantages([1f, 2f, 3f], 2, new float[3]));
    }

    [Fact]
    public void ExplainedVariance_IsOneForPerfectValues_ZeroForTheMean()
    {
        float[] ret = [1f, 2f, 3f, 4f];
        bool[] all = [true, true, true, true];
        Assert.Equal(1, PolicyMath.ExplainedVariance(ret, ret, all), 9);
        Assert.Equal(0, PolicyMath.ExplainedVariance([2.5f, 2.5f, 2.5f, 2.5f], ret, all), 9);
    }
}
