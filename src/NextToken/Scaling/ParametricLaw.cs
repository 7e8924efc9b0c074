// ParametricLaw: L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2) and its compute-optimal allocation under C = 6ND.
using System.Text.Json;

namespace NextToken.Scaling;

/// <summary>
/// The Chinchilla loss law. Minimising L under C = 6ND gives N_opt(C) = G·(C/6)^a and D_opt(C) = G⁻¹·(C/6)^b with
/// a = β/(α+β), b = α/(α+β), G = (αA/(βB))^(1/(α+β)) (Hoffmann et al. eq. 4).
/// </summary>
public sealed record ParametricLaw(double E, double A, double B, double Alpha, double Beta)
{
    /// <summary>Hoffmann et al.'s Approach 3 constants.</summary>
    public static ParametricLaw Chinchilla { get; } = new(1.69, 406.4, 410.7, 0.34, 0.28);

    /// <summary>Besiroglu et al. (Epoch AI, 2024), "Chinchilla Scaling: A replication attempt".</summary>
    public static ParametricLaw Epoch { get; } = new(1.8172, 482.01, 2085.43, 0.3478, 0.3658);

    /// <summary>Names <see cref="Get"/> accepts besides a file.</summary>
    public static IReadOnlyList<string> Names { get; } = ["chinchilla", "epoch"];

    /// <summary>Exponent of N_opt(C): β/(α+β).</summary>
    public double ParametersExponent => Beta / (Alpha + Beta);

    /// <summary>Exponent of D_opt(C): α/(α+β).</summary>
    public double TokensExponent => Alpha / (Alpha + Beta);

    /// <summary>G = (αA/(βB))^(1/(α+β)).</summary>
    public double G => Math.Pow(Alpha * A / (Beta * B), 1 / (Alpha + Beta));

    /// <summary>The predicted loss of <paramref name="parameters"/> trained on <paramref name="tokens"/>.</summary>
    public double Loss(double parameters, double tokens) => E + A / Math.Pow(parameters, Alpha) + B / Math.Pow(tokens, Beta);

    /// <summary>N_opt, D_opt and the loss at budget <paramref name="flops"/> (C = 6ND).</summary>
    public ComputeOptimal Optimal(double flops)
    {
        if (!double.IsFinite(flops) || flops <= 0) throw new ArgumentException($"the compute budget must be a positive finite number of FLOPs (got {flops})", nameof(flops));
        double n = G * Math.Pow(flops / 6, ParametersExponent);
        double d = flops / (6 * n);
        return new ComputeOptimal(flops, n, d, Loss(n, d));
    }

    /// <summary>The budget at which <paramref name="parameters"/> is compute-optimal, its tokens and loss.</summary>
    public ComputeOptimal OptimalForParameters(double parameters)
    {
        if (!double.IsFinite(parameters) || parameters <= 0) throw new ArgumentException($"the parameter count must be positive (got {parameters})", nameof(parameters));
        double c = 6 * Math.Pow(parameters / G, 1 / ParametersExponent);
        double d = c / (6 * parameters);
        return new ComputeOptimal(c, parameters, d, Loss(parameters, d));
    }

    /// <summary>
    /// The law called <paramref name="nameOrFile"/>: <c>chinchilla</c>, <c>epoch</c>, or a JSON file with keys E, A, B,
    /// alpha, beta (what a Chinchilla fit writes; for a file of several lines, the last line that has them).
    /// </summary>
    public static ParametricLaw Get(string nameOrFile)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrFile);
        switch (nameOrFile.ToLowerInvariant())
        {
            case "chinchilla": return Chinchilla;
            case "epoch": return Epoch;
        }
        if (!File.Exists(nameOrFile))
            throw new ArgumentException($"unknown law '{nameOrFile}': use chinchilla, epoch, or a JSON file with E, A, B, alpha, beta (a Chinchilla fit's output)", nameof(nameOrFile));
        ParametricLaw? found = null;
        foreach (string line in File.ReadLines(nameOrFile).Where(l => l.TrimStart().StartsWith('{')))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                var r = doc.RootElement;
                double V(string k) => r.TryGetProperty(k, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
                var law = new ParametricLaw(V("E"), V("A"), V("B"), V("alpha"), V("beta"));
                if (law.IsValid) found = law;
            }
            catch (JsonException) { }
        }
        if (found is null)
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(nameOrFile));
                var r = doc.RootElement;
                double V(string k) => r.TryGetProperty(k, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
                var law = new ParametricLaw(V("E"), V("A"), V("B"), V("alpha"), V("beta"));
                if (law.IsValid) found = law;
            }
            catch (JsonException) { }
        }
        return found ?? throw new InvalidDataException($"'{nameOrFile}' holds no JSON object with finite E, A, B, alpha, beta (A, B, alpha, beta positive)");
    }

    /// <summary>True when every constant is finite and A, B, α, β are positive.</summary>
    public bool IsValid => double.IsFinite(E) && A > 0 && B > 0 && Alpha > 0 && Beta > 0 && double.IsFinite(A) && double.IsFinite(B) && double.IsFinite(Alpha) && double.IsFinite(Beta);
}
