// Lbfgs: limited-memory BFGS (Nocedal & Wright, Algorithm 7.4/7.5) with a backtracking Armijo line search; small and
// dependency-free, for the scaling-law fits (a handful of parameters).
namespace NextToken.Scaling;

/// <summary>Minimises a smooth function of a few variables given its value and gradient.</summary>
public static class Lbfgs
{
    /// <summary>
    /// The objective: returns f(x) and writes ∇f(x) into the second argument (same length as x).
    /// </summary>
    public delegate double Objective(ReadOnlySpan<double> x, Span<double> gradient);

    /// <summary>
    /// Minimises <paramref name="f"/> from <paramref name="start"/>. Stops when the gradient's largest component is
    /// below <paramref name="gradientTolerance"/>, when a step changes f by less than <paramref name="valueTolerance"/>
    /// relative to |f|, when the line search cannot decrease f, or after <paramref name="maxIterations"/>.
    /// </summary>
    public static LbfgsResult Minimize(Objective f, ReadOnlySpan<double> start, int maxIterations = 500, int memory = 10,
                                       double gradientTolerance = 1e-9, double valueTolerance = 1e-12)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentOutOfRangeException.ThrowIfLessThan(memory, 1);
        int n = start.Length;
        var x = start.ToArray();
        var g = new double[n];
        double fx = f(x, g);
        if (!double.IsFinite(fx)) return new LbfgsResult(x, fx, 0, false);
        var s = new double[memory][];
        var y = new double[memory][];
        var rho = new double[memory];
        var alpha = new double[memory];
        int stored = 0, head = 0;
        var d = new double[n];
        var xNew = new double[n];
        var gNew = new double[n];
        for (int iter = 0; iter < maxIterations; iter++)
        {
            if (MaxAbs(g) < gradientTolerance) return new LbfgsResult(x, fx, iter, true);
            // Two-loop recursion: d = -H·g with H the L-BFGS inverse-Hessian estimate.
            for (int i = 0; i < n; i++) d[i] = -g[i];
            for (int k = 0; k < stored; k++)
            {
                int j = (head - 1 - k + memory) % memory;
                alpha[j] = rho[j] * Dot(s[j], d);
                Axpy(-alpha[j], y[j], d);
            }
            if (stored > 0)
            {
                int last = (head - 1 + memory) % memory;
                double gamma = Dot(s[last], y[last]) / Dot(y[last], y[last]);
                for (int i = 0; i < n; i++) d[i] *= gamma;
            }
            for (int k = stored - 1; k >= 0; k--)
            {
                int j = (head - 1 - k + memory) % memory;
                double beta = rho[j] * Dot(y[j], d);
                Axpy(alpha[j] - beta, s[j], d);
            }
            double slope = Dot(g, d);
            if (!(slope < 0))
            {
                // Not a descent direction (the curvature pairs went stale): restart from steepest descent.
                for (int i = 0; i < n; i++) d[i] = -g[i];
                slope = Dot(g, d);
                stored = 0;
            }
            // Backtracking line search with the Armijo condition; the first step of steepest descent is scaled to length 1.
            double step = stored == 0 ? Math.Min(1.0, 1.0 / Math.Max(1e-300, Math.Sqrt(Dot(d, d)))) : 1.0;
            double fNew = double.NaN;
            bool found = false;
            for (int ls = 0; ls < 60; ls++)
            {
                for (int i = 0; i < n; i++) xNew[i] = x[i] + step * d[i];
                fNew = f(xNew, gNew);
                if (double.IsFinite(fNew) && fNew <= fx + 1e-4 * step * slope) { found = true; break; }
                step *= 0.5;
            }
            if (!found) return new LbfgsResult(x, fx, iter, MaxAbs(g) < Math.Sqrt(gradientTolerance));
            var sk = new double[n];
            var yk = new double[n];
            for (int i = 0; i < n; i++) { sk[i] = xNew[i] - x[i]; yk[i] = gNew[i] - g[i]; }
            double sy = Dot(sk, yk);
            if (sy > 1e-300)
            {
                s[head] = sk; y[head] = yk; rho[head] = 1 / sy;
                head = (head + 1) % memory;
                stored = Math.Min(stored + 1, memory);
            }
            double change = fx - fNew;
            Array.Copy(xNew, x, n);
            Array.Copy(gNew, g, n);
            fx = fNew;
            if (change <= valueTolerance * Math.Max(1.0, Math.Abs(fx))) return new LbfgsResult(x, fx, iter + 1, true);
        }
        return new LbfgsResult(x, fx, maxIterations, false);
    }

    /// <summary>Wraps a value-only function with a central-difference gradient (step 1e-6 relative to each coordinate).</summary>
    public static Objective WithNumericGradient(Func<double[], double> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        return (x, g) =>
        {
            var p = x.ToArray();
            double v = f(p);
            for (int i = 0; i < p.Length; i++)
            {
                double xi = p[i], h = 1e-6 * Math.Max(1.0, Math.Abs(xi));
                p[i] = xi + h; double up = f(p);
                p[i] = xi - h; double down = f(p);
                p[i] = xi;
                g[i] = (up - down) / (2 * h);
            }
            return v;
        };
    }

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static void Axpy(double a, ReadOnlySpan<double> x, Span<double> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] += a * x[i];
    }

    private static double MaxAbs(ReadOnlySpan<double> v)
    {
        double m = 0;
        foreach (double e in v) m = Math.Max(m, Math.Abs(e));
        return m;
    }
}
