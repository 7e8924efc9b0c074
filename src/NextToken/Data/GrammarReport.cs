// GrammarReport: how many sampled sentences the built-in grammar accepts.
namespace NextToken.Data;

/// <summary>Result of <see cref="GrammarCorpus.Evaluate"/>.</summary>
/// <param name="Total">Non-blank samples judged.</param>
/// <param name="Grammatical">Samples the grammar accepts.</param>
public sealed record GrammarReport(int Total, int Grammatical)
{
    /// <summary>Share of samples that are grammatical (0 when there were none).</summary>
    public double Share => Total == 0 ? 0 : (double)Grammatical / Total;
}
