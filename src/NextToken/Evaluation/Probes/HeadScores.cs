// HeadScores: per-head induction and prefix-matching scores of one layer stack, (L, NH) each.
namespace NextToken.Evaluation.Probes;

/// <summary>Per-head attention scores, indexed [layer, head].</summary>
public sealed record HeadScores(double[,] Induction, double[,] PrefixMatching)
{
    /// <summary>The largest induction score over all heads.</summary>
    public double InductionMax => Max(Induction);
    /// <summary>The largest prefix-matching score over all heads.</summary>
    public double PrefixMatchingMax => Max(PrefixMatching);

    private static double Max(double[,] a)
    {
        double m = double.NegativeInfinity;
        foreach (double v in a) m = Math.Max(m, v);
        return m;
    }
}
