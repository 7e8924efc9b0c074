// ScalingFits: Kaplan's L(N) and L(N, D), Chinchilla's parametric L(N, D) (Approach 3, Huber + L-BFGS from a grid,
// bootstrap intervals) and IsoFLOP minima (Approach 2), fitted to a sweep's runs.
using NextToken.Tensors;

namespace NextToken.Scaling;

/// <summary>Fits scaling laws to runs (<see cref="ResultsFile"/>).</summary>
public static class ScalingFits
{
    /// <summary>Law names <see cref="Fit"/> accepts.</summary>
    public static IReadOnlyList<string> Laws { get; } = ["kaplan-n", "kaplan-nd", "chinchilla", "isoflop"];

    /// <summary>Free parameters of each law (a fit needs at least this many runs).</summary>
    public static int ParameterCount(string law) => law switch
    {
        "kaplan-n" => 2,
        "kaplan-nd" => 4,
        "chinchilla" => 5,
        "isoflop" => 6, // two budgets, a three-parameter parabola each
        _ => throw new ArgumentException($"unknown law '{law}': use one of {string.Join(", ", Laws)}", nameof(law)),
    };

    /// <summary>Fits <paramref name="law"/> to <paramref name="runs"/>; <paramref name="skipped"/> is reported as read.</summary>
    public static FitReport Fit(string law, IReadOnlyList<ScalingRun> runs, FitOptions? options = null, int skipped = 0)
    {
        ArgumentNullException.ThrowIfNull(runs);
        options ??= new FitOptions();
        int k = ParameterCount(law);
        if (runs.Count < k)
            throw new ArgumentException($"the {law} law has {k} parameters but only {runs.Count} usable run{(runs.Count == 1 ? "" : "s")} " +
                                        $"{(skipped > 0 ? $"were read ({skipped} skipped for missing, non-positive or non-finite values)" : "were given")}; " +
                                        $"run at least {k}", nameof(runs));
        foreach (var r in runs)
            if (!(r.Parameters > 0 && r.Tokens > 0 && r.Loss > 0 && r.NonEmbeddingParameters > 0 && r.Flops > 0) ||
                !double.IsFinite(r.Parameters + r.Tokens + r.Loss + r.NonEmbeddingParameters + r.Flops))
                throw new ArgumentException($"run {r.Name ?? ""} has a non-positive or non-finite value (parameters {r.Parameters}, tokens {r.Tokens}, loss {r.Loss})", nameof(runs));
        var report = law switch
        {
            "kaplan-n" => KaplanN(runs),
            "kaplan-nd" => KaplanND(runs),
            "chinchilla" => Chinchilla(runs, options),
            _ => IsoFlop(runs),
        };
        return report with { Runs = runs.Count, Skipped = skipped };
    }

    // ---- Kaplan et al. (2020) eq. 1.1: L(N) = (Nc/N)^αN, N non-embedding; least squares in log-log space (a line).
    private static FitReport KaplanN(IReadOnlyList<ScalingRun> runs)
    {
        var x = runs.Select(r => Math.Log(r.NonEmbeddingParameters)).ToArray();
        var y = runs.Select(r => Math.Log(r.Loss)).ToArray();
        if (x.Distinct().Count() < 2) throw new ArgumentException("L(N) needs runs of at least two model sizes", nameof(runs));
        var (intercept, slope) = Line(x, y);
        double alpha = -slope, nc = Math.Exp(intercept / alpha);
        var rep = new FitReport { Law = "kaplan-n", AlphaN = alpha, Nc = nc };
        return rep with { Objective = SumSquares(rep, runs), RmsLogResidual = Rms(rep, runs) };
    }

    // ---- Kaplan et al. eq. 1.5: L(N, D) = [(Nc/N)^(αN/αD) + Dc/D]^αD; squared log residuals, L-BFGS from a small grid,
    // exponents fitted through their logarithms so they stay positive.
    private static FitReport KaplanND(IReadOnlyList<ScalingRun> runs)
    {
        var lnN = runs.Select(r => Math.Log(r.NonEmbeddingParameters)).ToArray();
        var lnD = runs.Select(r => Math.Log(r.Tokens)).ToArray();
        var lnL = runs.Select(r => Math.Log(r.Loss)).ToArray();
        double F(double[] t)
        {
            double lnNc = t[0], lnDc = t[1], an = Math.Exp(t[2]), ad = Math.Exp(t[3]), s = 0;
            for (int i = 0; i < lnN.Length; i++)
            {
                double u1 = an / ad * (lnNc - lnN[i]), u2 = lnDc - lnD[i], m = Math.Max(u1, u2);
                double pred = ad * (m + Math.Log(Math.Exp(u1 - m) + Math.Exp(u2 - m)));
                s += (pred - lnL[i]) * (pred - lnL[i]);
            }
            return s;
        }
        var objective = Lbfgs.WithNumericGradient(F);
        LbfgsResult? best = null;
        foreach (double nc in new[] { 1e6, 1e9, 1e12, 1e15 })
            foreach (double dc in new[] { 1e6, 1e9, 1e12, 1e15 })
                foreach (double an in new[] { 0.05, 0.15, 0.5 })
                    foreach (double ad in new[] { 0.05, 0.15, 0.5 })
                    {
                        var res = Lbfgs.Minimize(objective, [Math.Log(nc), Math.Log(dc), Math.Log(an), Math.Log(ad)], maxIterations: 300);
                        if (double.IsFinite(res.Value) && (best is null || res.Value < best.Value)) best = res;
                    }
        if (best is null) throw new InvalidOperationException("the L(N, D) fit found no finite optimum from any initialisation");
        var rep = new FitReport
        {
            Law = "kaplan-nd", Nc = Math.Exp(best.X[0]), Dc = Math.Exp(best.X[1]), AlphaN = Math.Exp(best.X[2]), AlphaD = Math.Exp(best.X[3]), Objective = best.Value,
        };
        return rep with { RmsLogResidual = Rms(rep, runs) };
    }

    // ---- Hoffmann et al. (2022) Approach 3: minimise Σ Huber_δ(LSE(a − α·ln N, b − β·ln D, e) − ln L) over (a, b, e, α, β)
    // with L-BFGS from their grid (α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25}); A = e^a, B = e^b, E = e^e.
    private static FitReport Chinchilla(IReadOnlyList<ScalingRun> runs, FitOptions o)
    {
        var best = ChinchillaOptimum(runs, o, null);
        var rep = ChinchillaReport(best.X) with { Objective = best.Value };
        rep = rep with { RmsLogResidual = Rms(rep, runs) };
        if (o.Bootstrap <= 0) return rep;
        var rng = new Rng(o.Seed, 0xB007);
        var samples = new Dictionary<string, List<double>>();
        foreach (var key in new[] { "E", "A", "B", "alpha", "beta", "a", "b" }) samples[key] = [];
        var resample = new ScalingRun[runs.Count];
        for (int s = 0; s < o.Bootstrap; s++)
        {
            for (int i = 0; i < resample.Length; i++) resample[i] = runs[rng.NextInt(runs.Count)];
            // Each resample starts from the full fit and from the best few grid points, so a resample with a different
            // optimum can still reach it.
            var fit = ChinchillaOptimum(resample, o with { GridStarts = 4 }, best.X);
            var r = ChinchillaReport(fit.X);
            samples["E"].Add(r.E!.Value); samples["A"].Add(r.A!.Value); samples["B"].Add(r.B!.Value);
            samples["alpha"].Add(r.Alpha!.Value); samples["beta"].Add(r.Beta!.Value);
            samples["a"].Add(r.ParametersExponent!.Value); samples["b"].Add(r.TokensExponent!.Value);
        }
        var ci = samples.ToDictionary(kv => kv.Key, kv => new[] { Percentile(kv.Value, 0.025), Percentile(kv.Value, 0.975) });
        return rep with { Intervals = ci, Bootstrap = o.Bootstrap };
    }

    private static FitReport ChinchillaReport(double[] t)
    {
        var law = new ParametricLaw(Math.Exp(t[2]), Math.Exp(t[0]), Math.Exp(t[1]), t[3], t[4]);
        return new FitReport
        {
            Law = "chinchilla", E = law.E, A = law.A, B = law.B, Alpha = law.Alpha, Beta = law.Beta,
            ParametersExponent = law.ParametersExponent, TokensExponent = law.TokensExponent,
            G = law.Alpha > 0 && law.Beta > 0 ? law.G : null,
        };
    }

    /// <summary>The Approach-3 objective and its gradient at θ = (a, b, e, α, β).</summary>
    internal static double ChinchillaObjective(ReadOnlySpan<double> t, Span<double> g, double[] lnN, double[] lnD, double[] lnL, double delta)
    {
        double a = t[0], b = t[1], e = t[2], alpha = t[3], beta = t[4], sum = 0;
        if (!g.IsEmpty) g.Clear();
        for (int i = 0; i < lnN.Length; i++)
        {
            double u1 = a - alpha * lnN[i], u2 = b - beta * lnD[i], u3 = e;
            double m = Math.Max(u1, Math.Max(u2, u3));
            double e1 = Math.Exp(u1 - m), e2 = Math.Exp(u2 - m), e3 = Math.Exp(u3 - m), s = e1 + e2 + e3;
            double r = m + Math.Log(s) - lnL[i];
            sum += Huber.Loss(r, delta);
            if (g.IsEmpty) continue;
            double h = Huber.Derivative(r, delta) / s;
            g[0] += h * e1; g[1] += h * e2; g[2] += h * e3;
            g[3] -= h * e1 * lnN[i]; g[4] -= h * e2 * lnD[i];
        }
        return sum;
    }

    private static LbfgsResult ChinchillaOptimum(IReadOnlyList<ScalingRun> runs, FitOptions o, double[]? extraStart)
    {
        var lnN = runs.Select(r => Math.Log(r.Parameters)).ToArray();
        var lnD = runs.Select(r => Math.Log(r.Tokens)).ToArray();
        var lnL = runs.Select(r => Math.Log(r.Loss)).ToArray();
        double delta = o.HuberDelta;
        Lbfgs.Objective f = (t, g) => ChinchillaObjective(t, g, lnN, lnD, lnL, delta);
        var grid = new List<(double Value, double[] Start)>();
        for (int ia = 0; ia <= 5; ia++)
            for (int ib = 0; ib <= 5; ib++)
                for (int ie = -2; ie <= 2; ie++)
                    for (int ial = 0; ial <= 4; ial++)
                        for (int ibe = 0; ibe <= 4; ibe++)
                        {
                            double[] start = [5.0 * ia, 5.0 * ib, 0.5 * ie, 0.5 * ial, 0.5 * ibe];
                            grid.Add((ChinchillaObjective(start, default, lnN, lnD, lnL, delta), start));
                        }
        var starts = (o.GridStarts > 0 ? grid.OrderBy(s => s.Value).Take(o.GridStarts) : grid).Select(s => s.Start).ToList();
        if (extraStart is not null) starts.Insert(0, extraStart);
        LbfgsResult? best = null;
        foreach (var start in starts)
        {
            var res = Lbfgs.Minimize(f, start, maxIterations: 1000, gradientTolerance: 1e-12, valueTolerance: 1e-15);
            if (double.IsFinite(res.Value) && (best is null || res.Value < best.Value)) best = res;
        }
        return best ?? throw new InvalidOperationException("the Chinchilla fit found no finite optimum from any initialisation");
    }

    // ---- Approach 2: per budget, a parabola in ln N through loss; its vertex is that budget's optimum. Then
    // N_opt = G·C^a by least squares in log-log space, and D_opt = C/(6·N_opt), so b = 1 − a.
    private static FitReport IsoFlop(IReadOnlyList<ScalingRun> runs)
    {
        var minima = new List<ComputeOptimal>();
        foreach (var group in runs.GroupBy(r => r.Budget ?? RoundSignificant(r.Flops, 2)))
        {
            var pts = group.ToList();
            if (pts.Select(p => p.Parameters).Distinct().Count() < 3) continue;
            double mean = pts.Average(p => Math.Log(p.Parameters));
            var x = pts.Select(p => Math.Log(p.Parameters) - mean).ToArray();
            var y = pts.Select(p => p.Loss).ToArray();
            var (c0, c1, c2) = Parabola(x, y);
            if (!(c2 > 0)) continue; // no minimum: the budget's sizes do not bracket its optimum
            double xv = -c1 / (2 * c2);
            if (xv < x.Min() || xv > x.Max()) continue; // the vertex lies outside the sizes run: an extrapolation, not a measured optimum
            double n = Math.Exp(xv + mean), budget = group.Key;
            minima.Add(new ComputeOptimal(budget, n, budget / (6 * n), c0 + c1 * xv + c2 * xv * xv));
        }
        if (minima.Count < 2)
            throw new ArgumentException($"an IsoFLOP fit needs at least two compute budgets whose three or more model sizes bracket a minimum (found {minima.Count})", "runs");
        minima.Sort((p, q) => p.Flops.CompareTo(q.Flops));
        var (intercept, slope) = Line(minima.Select(m => Math.Log(m.Flops)).ToArray(), minima.Select(m => Math.Log(m.Parameters)).ToArray());
        return new FitReport { Law = "isoflop", ParametersExponent = slope, TokensExponent = 1 - slope, G = Math.Exp(intercept), Minima = minima };
    }

    /// <summary>Least-squares line y = intercept + slope·x.</summary>
    internal static (double Intercept, double Slope) Line(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0;
        for (int i = 0; i < x.Length; i++) { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx); }
        double slope = sxy / sxx;
        return (my - slope * mx, slope);
    }

    /// <summary>Least-squares parabola y = c0 + c1·x + c2·x² (normal equations, 3 × 3, Cramer's rule).</summary>
    internal static (double C0, double C1, double C2) Parabola(double[] x, double[] y)
    {
        double s0 = x.Length, s1 = 0, s2 = 0, s3 = 0, s4 = 0, t0 = 0, t1 = 0, t2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double xi = x[i], x2 = xi * xi;
            s1 += xi; s2 += x2; s3 += x2 * xi; s4 += x2 * x2; t0 += y[i]; t1 += xi * y[i]; t2 += x2 * y[i];
        }
        double Det(double a, double b, double c, double d, double e, double f, double g, double h, double k) =>
            a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g);
        double det = Det(s0, s1, s2, s1, s2, s3, s2, s3, s4);
        return (Det(t0, s1, s2, t1, s2, s3, t2, s3, s4) / det, Det(s0, t0, s2, s1, t1, s3, s2, t2, s4) / det, Det(s0, s1, t0, s1, s2, t1, s2, s3, t2) / det);
    }

    private static double RoundSignificant(double v, int digits)
    {
        double scale = Math.Pow(10, Math.Floor(Math.Log10(v)) - digits + 1);
        return Math.Round(v / scale) * scale;
    }

    private static double Percentile(List<double> v, double q)
    {
        var s = v.Where(double.IsFinite).OrderBy(d => d).ToArray();
        if (s.Length == 0) return double.NaN;
        double pos = q * (s.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, s.Length - 1);
        return s[lo] + (pos - lo) * (s[hi] - s[lo]);
    }

    private static double SumSquares(FitReport rep, IReadOnlyList<ScalingRun> runs) =>
        runs.Sum(r => Math.Pow(Math.Log(rep.Predict(r.Parameters, r.NonEmbeddingParameters, r.Tokens)!.Value) - Math.Log(r.Loss), 2));

    private static double Rms(FitReport rep, IReadOnlyList<ScalingRun> runs) => Math.Sqrt(SumSquares(rep, runs) / runs.Count);
}
