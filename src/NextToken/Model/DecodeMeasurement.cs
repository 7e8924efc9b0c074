// DecodeMeasurement: what DecodeThroughput.Measure returns (tokens, wall times, tokens per second).
namespace NextToken.Model;

/// <summary>The result of <see cref="DecodeThroughput.Measure"/>.</summary>
/// <param name="Tokens">Tokens decoded one at a time (after the prompt).</param>
/// <param name="Seconds">Wall time of those tokens.</param>
/// <param name="PromptSeconds">Wall time of the prompt (one forward over all its positions).</param>
public sealed record DecodeMeasurement(int Tokens, double Seconds, double PromptSeconds)
{
    /// <summary>Decoded tokens per second.</summary>
    public double TokensPerSecond => Tokens / Seconds;
}
