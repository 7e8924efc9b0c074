// ScalingFitCommand: `nexttoken scaling fit --results FILE --law kaplan-n|kaplan-nd|chinchilla|isoflop` — fits a law to a sweep.
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NextToken.Scaling;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken scaling fit</c>.</summary>
internal sealed class ScalingFitCommand : IScalingSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var d = new FitOptions();
        var results = new Option<string>("--results") { Description = "results.jsonl of a sweep (or its directory)", Required = true };
        var law = new Option<string>("--law") { Description = "kaplan-n: L(N) = (Nc/N)^a; kaplan-nd: L(N, D); chinchilla: E + A/N^alpha + B/D^beta; isoflop: Approach 2 minima", Required = true };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples for the Chinchilla fit's 95% intervals (0: none)", DefaultValueFactory = _ => d.Bootstrap };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the bootstrap", DefaultValueFactory = _ => d.Seed };
        var delta = new Option<double>("--huber-delta") { Description = "Huber delta on log-loss residuals (Hoffmann et al.)", DefaultValueFactory = _ => d.HuberDelta };
        var plot = new Option<string?>("--plot") { Description = "Draw the fitted law against the measured runs, with residuals (.png or .svg)" };
        var json = new Option<bool>("--json") { Description = "Last stdout line: one JSON object (E, A, B, alpha, beta, a, b, ci95, …; keys a law lacks are null)" };
        var cmd = new Command("fit", "Fit a scaling law to a sweep's results.jsonl. Chinchilla is fitted as Hoffmann et al. do: Huber loss (delta 1e-3) on log-loss\n" +
                                     "residuals, L-BFGS from a grid of initialisations, bootstrap intervals; derived a = beta/(alpha+beta), b = alpha/(alpha+beta).\n" +
                                     "Example: nexttoken scaling fit --results runs/sweep/results.jsonl --law chinchilla --json");
        foreach (var o in new Option[] { results, law, bootstrap, seed, delta, plot, json }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            string name = pr.GetValue(law)!.ToLowerInvariant();
            ScalingFits.ParameterCount(name); // an unknown law fails before the file is read
            if (pr.GetValue(bootstrap) < 0) throw new ArgumentException($"--bootstrap must be at least 0 (got {pr.GetValue(bootstrap)})");
            if (!(pr.GetValue(delta) > 0) || !double.IsFinite(pr.GetValue(delta))) throw new ArgumentException($"--huber-delta must be a positive number (got {pr.GetValue(delta)})");
            var (runs, skipped) = ResultsFile.Read(pr.GetValue(results)!);
            var fit = ScalingFits.Fit(name, runs, new FitOptions { Bootstrap = pr.GetValue(bootstrap), Seed = pr.GetValue(seed), HuberDelta = pr.GetValue(delta) }, skipped);
            // After the fit, so a refused fit stays one error line (it states the skipped rows itself).
            if (skipped > 0) Console.Error.WriteLine($"skipped {skipped} row{(skipped == 1 ? "" : "s")} with a missing, non-positive or non-finite params, tokens or loss");
            if (pr.GetValue(plot) is { } path) ScalingPlots.DrawFit(fit, runs, path);
            if (pr.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(fit));
            else Print(fit);
            return 0;
        });
        return cmd;
    }

    private static void Print(FitReport f)
    {
        var inv = CultureInfo.InvariantCulture;
        string V(double? v) => v is double x ? x.ToString("G5", inv) : "n/a";
        string Ci(string key) => f.Intervals is { } ci && ci.TryGetValue(key, out var r) ? $"  [{r[0].ToString("G4", inv)}, {r[1].ToString("G4", inv)}]" : "";
        Console.WriteLine($"law {f.Law}: {f.Runs} runs ({f.Skipped} skipped)");
        switch (f.Law)
        {
            case "chinchilla":
                Console.WriteLine($"L(N, D) = E + A/N^alpha + B/D^beta{(f.Bootstrap > 0 ? $"   (95% bootstrap intervals, {f.Bootstrap} resamples)" : "")}");
                Console.WriteLine($"  E     {V(f.E)}{Ci("E")}");
                Console.WriteLine($"  A     {V(f.A)}{Ci("A")}");
                Console.WriteLine($"  B     {V(f.B)}{Ci("B")}");
                Console.WriteLine($"  alpha {V(f.Alpha)}{Ci("alpha")}");
                Console.WriteLine($"  beta  {V(f.Beta)}{Ci("beta")}");
                Console.WriteLine($"compute-optimal: N_opt = {V(f.G)}·(C/6)^{V(f.ParametersExponent)}{Ci("a")}, D_opt = (C/6)^{V(f.TokensExponent)}/{V(f.G)}{Ci("b")}");
                break;
            case "kaplan-n":
                Console.WriteLine($"L(N) = (Nc/N)^alpha_n: Nc {V(f.Nc)}, alpha_n {V(f.AlphaN)}");
                break;
            case "kaplan-nd":
                Console.WriteLine($"L(N, D) = [(Nc/N)^(alpha_n/alpha_d) + Dc/D]^alpha_d: Nc {V(f.Nc)}, alpha_n {V(f.AlphaN)}, Dc {V(f.Dc)}, alpha_d {V(f.AlphaD)}");
                break;
            default:
                foreach (var m in f.Minima!)
                    Console.WriteLine($"  budget {m.Flops.ToString("G3", inv)} FLOPs: N* {m.Parameters.ToString("G4", inv)}, D* {m.Tokens.ToString("G4", inv)}, loss {m.Loss.ToString("F4", inv)}");
                Console.WriteLine($"N_opt = {V(f.G)}·C^{V(f.ParametersExponent)}, D_opt ∝ C^{V(f.TokensExponent)}");
                break;
        }
        if (f.RmsLogResidual is double rms) Console.WriteLine($"rms residual of log loss: {rms.ToString("G4", inv)}");
    }
}
