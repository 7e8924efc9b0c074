// ScalingPlanCommand: `nexttoken scaling plan --flops C [--law chinchilla|epoch|FILE]` — compute-optimal size, tokens and loss.
using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using NextToken.Scaling;

namespace NextToken.Cli.Commands;

/// <summary><c>nexttoken scaling plan</c>.</summary>
internal sealed class ScalingPlanCommand : IScalingSubcommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var flops = new Option<string?>("--flops") { Description = "Compute budget(s) in FLOPs, comma-separated (1e21 or 1e19,1e21)" };
        var law = new Option<string>("--law") { Description = "chinchilla (Approach 3: E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28), epoch (Besiroglu et al. 2024) or a fit's JSON file", DefaultValueFactory = _ => "chinchilla" };
        var table = new Option<string?>("--table") { Description = "chinchilla: Table 3's model sizes with the paper's FLOPs and tokens beside both constant sets" };
        var json = new Option<bool>("--json") { Description = "One JSON object per budget (params, tokens, loss, flops, law); the last line is the last budget" };
        var cmd = new Command("plan", "Compute-optimal model size N_opt, tokens D_opt (C = 6ND) and predicted loss for a budget.\n" +
                                      "Example: nexttoken scaling plan --flops 5.76e23 --law epoch --json\n" +
                                      "         nexttoken scaling plan --table chinchilla");
        foreach (var o in new Option[] { flops, law, table, json }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var inv = CultureInfo.InvariantCulture;
            string lawName = pr.GetValue(law)!;
            var l = ParametricLaw.Get(lawName);
            if (pr.GetValue(table) is { } t)
            {
                if (!string.Equals(t, "chinchilla", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"unknown table '{t}': the plan table is 'chinchilla'");
                PrintTable(pr.GetValue(json));
                return 0;
            }
            string spec = pr.GetValue(flops) ?? throw new ArgumentException("give a compute budget with --flops C (or --table chinchilla)");
            foreach (string part in spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!double.TryParse(part, NumberStyles.Float, inv, out double c) || !double.IsFinite(c) || c <= 0)
                    throw new ArgumentException($"--flops must be positive finite numbers (got '{part}')");
                var o = l.Optimal(c);
                if (pr.GetValue(json))
                    Console.WriteLine(new JsonObject
                    {
                        ["flops"] = c, ["params"] = o.Parameters, ["tokens"] = o.Tokens, ["loss"] = o.Loss, ["tokens_per_param"] = o.Tokens / o.Parameters,
                        ["law"] = lawName, ["E"] = l.E, ["A"] = l.A, ["B"] = l.B, ["alpha"] = l.Alpha, ["beta"] = l.Beta,
                    }.ToJsonString());
                else
                    Console.WriteLine($"C = {c.ToString("G4", inv)} FLOPs ({lawName}): N_opt {o.Parameters.ToString("G4", inv)} parameters, D_opt {o.Tokens.ToString("G4", inv)} tokens " +
                                      $"({(o.Tokens / o.Parameters).ToString("F1", inv)} tokens/parameter), predicted loss {o.Loss.ToString("F4", inv)}");
            }
            return 0;
        });
        return cmd;
    }

    private static void PrintTable(bool asJson)
    {
        var inv = CultureInfo.InvariantCulture;
        var rows = new JsonArray();
        if (!asJson)
        {
            Console.WriteLine("Hoffmann et al. Table 3 (Approach 1) beside the compute-optimal budgets of each size under Approach 3 and Epoch's refit");
            Console.WriteLine($"{"params",8} | {"paper FLOPs",11} {"tokens",8} | {"chinchilla",10} {"tokens",8} {"loss",6} | {"epoch",10} {"tokens",8} {"loss",6}");
        }
        foreach (var (n, f, d) in PublishedTables.ChinchillaTable3)
        {
            var a = ParametricLaw.Chinchilla.OptimalForParameters(n);
            var e = ParametricLaw.Epoch.OptimalForParameters(n);
            if (asJson)
                rows.Add(new JsonObject
                {
                    ["params"] = n, ["paper_flops"] = f, ["paper_tokens"] = d,
                    ["chinchilla_flops"] = a.Flops, ["chinchilla_tokens"] = a.Tokens, ["chinchilla_loss"] = a.Loss,
                    ["epoch_flops"] = e.Flops, ["epoch_tokens"] = e.Tokens, ["epoch_loss"] = e.Loss,
                });
            else
                Console.WriteLine($"{Short(n),8} | {f.ToString("0.00e+00", inv),11} {Short(d),8} | {a.Flops.ToString("0.00e+00", inv),10} {Short(a.Tokens),8} {a.Loss.ToString("F3", inv),6} | " +
                                  $"{e.Flops.ToString("0.00e+00", inv),10} {Short(e.Tokens),8} {e.Loss.ToString("F3", inv),6}");
        }
        if (asJson) Console.WriteLine(new JsonObject { ["table"] = "chinchilla", ["rows"] = rows }.ToJsonString());
    }

    private static string Short(double n) => n switch
    {
        >= 1e12 => (n / 1e12).ToString("0.#", CultureInfo.InvariantCulture) + "T",
        >= 1e9 => (n / 1e9).ToString("0.#", CultureInfo.InvariantCulture) + "B",
        _ => (n / 1e6).ToString("0", CultureInfo.InvariantCulture) + "M",
    };
}
