// FitReport: the result of a scaling-law fit; its snake_case keys are the `scaling fit --json` contract (E, A, B, alpha, beta, a, b).
using System.Text.Json.Serialization;

namespace NextToken.Scaling;

/// <summary>
/// A fitted law. Chinchilla fills E, A, B, alpha, beta (and the derived a, b, G); Kaplan fills Nc, alpha_n (and Dc,
/// alpha_d for L(N, D)); IsoFLOP fills a, b and the minima. Keys a law does not have are null.
/// </summary>
public sealed record FitReport
{
    /// <summary>kaplan-n, kaplan-nd, chinchilla or isoflop.</summary>
    [JsonPropertyName("law")] public required string Law { get; init; }
    /// <summary>Rows fitted.</summary>
    [JsonPropertyName("runs")] public int Runs { get; init; }
    /// <summary>Rows skipped for missing, non-positive or non-finite values.</summary>
    [JsonPropertyName("skipped")] public int Skipped { get; init; }
    /// <summary>Irreducible loss E.</summary>
    [JsonPropertyName("E")] public double? E { get; init; }
    /// <summary>Coefficient A of A/N^α.</summary>
    [JsonPropertyName("A")] public double? A { get; init; }
    /// <summary>Coefficient B of B/D^β.</summary>
    [JsonPropertyName("B")] public double? B { get; init; }
    /// <summary>Exponent α of parameters.</summary>
    [JsonPropertyName("alpha")] public double? Alpha { get; init; }
    /// <summary>Exponent β of tokens.</summary>
    [JsonPropertyName("beta")] public double? Beta { get; init; }
    /// <summary>N_opt ∝ C^a: β/(α+β) (Chinchilla) or the IsoFLOP minima's slope.</summary>
    [JsonPropertyName("a")] public double? ParametersExponent { get; init; }
    /// <summary>D_opt ∝ C^b: α/(α+β), or 1 − a for IsoFLOP.</summary>
    [JsonPropertyName("b")] public double? TokensExponent { get; init; }
    /// <summary>N_opt(C) = G·(C/6)^a (Chinchilla) or N_opt(C) = G·C^a (IsoFLOP).</summary>
    [JsonPropertyName("G")] public double? G { get; init; }
    /// <summary>Kaplan's N_c.</summary>
    [JsonPropertyName("Nc")] public double? Nc { get; init; }
    /// <summary>Kaplan's α_N.</summary>
    [JsonPropertyName("alpha_n")] public double? AlphaN { get; init; }
    /// <summary>Kaplan's D_c.</summary>
    [JsonPropertyName("Dc")] public double? Dc { get; init; }
    /// <summary>Kaplan's α_D.</summary>
    [JsonPropertyName("alpha_d")] public double? AlphaD { get; init; }
    /// <summary>The minimised objective (Huber sum for Chinchilla, squared log residuals for Kaplan).</summary>
    [JsonPropertyName("objective")] public double? Objective { get; init; }
    /// <summary>Root-mean-square residual of log loss over the fitted runs.</summary>
    [JsonPropertyName("rms_log_residual")] public double? RmsLogResidual { get; init; }
    /// <summary>95% bootstrap intervals [low, high] by key (Chinchilla).</summary>
    [JsonPropertyName("ci95")] public IReadOnlyDictionary<string, double[]>? Intervals { get; init; }
    /// <summary>Bootstrap resamples used.</summary>
    [JsonPropertyName("bootstrap")] public int Bootstrap { get; init; }
    /// <summary>IsoFLOP minima: budget, parameters, tokens, loss of each parabola's vertex.</summary>
    [JsonPropertyName("minima")] public IReadOnlyList<ComputeOptimal>? Minima { get; init; }

    /// <summary>The predicted loss of a run under this fit (null for IsoFLOP, which has no loss law).</summary>
    public double? Predict(double parameters, double nonEmbeddingParameters, double tokens) => Law switch
    {
        "chinchilla" => E!.Value + A!.Value / Math.Pow(parameters, Alpha!.Value) + B!.Value / Math.Pow(tokens, Beta!.Value),
        "kaplan-n" => Math.Pow(Nc!.Value / nonEmbeddingParameters, AlphaN!.Value),
        "kaplan-nd" => Math.Pow(Math.Pow(Nc!.Value / nonEmbeddingParameters, AlphaN!.Value / AlphaD!.Value) + Dc!.Value / tokens, AlphaD!.Value),
        _ => null,
    };
}
