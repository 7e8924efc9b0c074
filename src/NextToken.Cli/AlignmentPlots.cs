// AlignmentPlots: the figures of a PPO / GRPO run drawn from its log.jsonl — rewards and KL per iteration, and true and
// proxy reward against KL (the over-optimisation picture of Gao et al. 2022).
using System.Text.Json;

namespace NextToken.Cli;

internal static class AlignmentPlots
{
    /// <summary>Rewards and KL against iteration.</summary>
    public const string ProgressFile = "rewards.png";
    /// <summary>True and proxy reward against KL.</summary>
    public const string KlFile = "reward_vs_kl.png";

    private static Dictionary<string, List<(double X, double Y)>> Read(string log, params string[] keys)
    {
        var series = keys.ToDictionary(k => k, _ => new List<(double, double)>());
        foreach (string line in File.ReadLines(log))
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); } catch (JsonException) { continue; }
            using (doc)
            {
                var r = doc.RootElement;
                if (!r.TryGetProperty("step", out var s) || s.ValueKind != JsonValueKind.Number) continue;
                foreach (var key in keys)
                    if (r.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number) series[key].Add((s.GetDouble(), v.GetDouble()));
            }
        }
        return series;
    }

    /// <summary>Draws both figures into <paramref name="dir"/>; failures are warnings.</summary>
    public static void TryDraw(string dir, TextWriter warnings)
    {
        string log = Path.Combine(dir, "log.jsonl");
        if (!File.Exists(log)) return;
        try
        {
            DrawProgress(log, Path.Combine(dir, ProgressFile));
            DrawRewardVsKl(log, Path.Combine(dir, KlFile));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
        {
            warnings.WriteLine($"warning: could not draw the reward figures ({e.Message})");
        }
    }

    public static void DrawProgress(string log, string path)
    {
        var s = Read(log, "true_reward", "model_reward", "kl");
        if (s.Values.All(v => v.Count == 0)) return;
        var plot = new ScottPlot.Plot();
        foreach (var (key, label) in new[] { ("true_reward", "true reward"), ("model_reward", "reward model / rule score"), ("kl", "KL to reference (per response)") })
            if (s[key].Count > 0) plot.Add.ScatterLine(s[key].Select(p => p.X).ToArray(), s[key].Select(p => p.Y).ToArray()).LegendText = label;
        plot.Title("Policy optimisation");
        plot.XLabel("iteration");
        plot.YLabel("mean over the iteration's rollouts");
        plot.ShowLegend();
        Save(plot, path);
    }

    /// <summary>True and proxy reward against the sampled KL per response: one dot per iteration, lines through means over bins of 10 iterations.</summary>
    public static void DrawRewardVsKl(string log, string path)
    {
        var s = Read(log, "true_reward", "model_reward", "kl");
        if (s["kl"].Count == 0) return;
        var kl = s["kl"].Select(p => p.Y).ToArray();
        var plot = new ScottPlot.Plot();
        foreach (var (key, label, color) in new[] { ("true_reward", "true reward", ScottPlot.Colors.C0), ("model_reward", "proxy (reward model) score", ScottPlot.Colors.C1) })
        {
            if (s[key].Count != kl.Length) continue;
            var y = s[key].Select(p => p.Y).ToArray();
            // Every iteration as a faint dot; the trend as means over bins of 10 iterations ordered by KL.
            var dots = plot.Add.Scatter(kl, y, color.WithAlpha(0.35));
            dots.LineWidth = 0; dots.MarkerSize = 4;
            var order = Enumerable.Range(0, kl.Length).OrderBy(i => kl[i]).ToArray();
            var bx = new List<double>(); var by = new List<double>();
            for (int b0 = 0; b0 < order.Length; b0 += 10)
            {
                var bin = order.Skip(b0).Take(10).ToArray();
                bx.Add(bin.Average(i => kl[i])); by.Add(bin.Average(i => y[i]));
            }
            var line = plot.Add.Scatter(bx.ToArray(), by.ToArray(), color);
            line.LineWidth = 2; line.LegendText = label;
        }
        plot.Title("Reward against KL to the reference");
        plot.XLabel("KL(π ‖ π_ref) per response (nats, sampled)");
        plot.YLabel("mean reward");
        plot.ShowLegend();
        Save(plot, path);
    }

    private static void Save(ScottPlot.Plot plot, string path)
    {
        plot.SavePng(path, 900, 520);
        plot.SaveSvg(Path.ChangeExtension(path, ".svg"), 900, 520);
    }
}
